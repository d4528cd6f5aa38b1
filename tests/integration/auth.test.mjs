// Scenario: authentication. A missing, malformed or unknown key is 401 UNAUTHENTICATED in
// OpenAI's error shape on every data-plane route, and nothing reaches the upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, request, postJson, chatBody, assertError, assertHealthy,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock });
});

const ROUTES = [
    { method: 'POST', path: '/v1/chat/completions', body: chatBody() },
    { method: 'POST', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'x' } },
    { method: 'GET', path: '/v1/models' },
];

function call(route, authorization) {
    const headers = {};
    if (authorization !== undefined) headers.authorization = authorization;
    if (route.method === 'GET') return request(gw.port, { path: route.path, headers });
    return postJson(gw.port, route.path, route.body, { headers });
}

const BAD = [
    ['no Authorization header', undefined],
    ['an unknown bwk_ key', 'Bearer bwk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['an empty bearer', 'Bearer '],
    ['a Basic credential', 'Basic dXNlcjpwYXNz'],
    ['garbage', 'x'.repeat(300)],
];

for (const [what, authz] of BAD) {
    test(`${what} is 401 UNAUTHENTICATED on every route, nothing forwarded`, async () => {
        await mock.reset();
        for (const route of ROUTES) {
            const r = await call(route, authz);
            assertError(r, 401, 'UNAUTHENTICATED');
            assert.equal(r.json.error.type, 'authentication_error', `${route.path}: ${r.text}`);
        }
        assert.equal((await mock.stats()).requests, 0, 'an unauthenticated call was forwarded');
    });
}

test('a near miss of the real key (one character changed, or a prefix) is refused', async () => {
    await mock.reset();
    const k = gw.keys.agent_key;
    const last = k.at(-1) === 'A' ? 'B' : 'A';
    for (const bad of [k.slice(0, -1) + last, k.slice(0, -1), k + 'A', k.toUpperCase()]) {
        if (bad === k) continue;
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(),
                                 { headers: { authorization: `Bearer ${bad}` } });
        assertError(r, 401, 'UNAUTHENTICATED');
    }
    assert.equal((await mock.stats()).requests, 0);
});

test('the error body never echoes the credential', async () => {
    const secret = 'bwk_ThisIsNotARealKeyButLooksLikeOne1234567';
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(),
                             { headers: { authorization: `Bearer ${secret}` } });
    assertError(r, 401, 'UNAUTHENTICATED');
    assert.ok(!r.text.includes(secret));
    assert.ok(!r.text.includes(secret.slice(4, 20)));
});

test('the real agent key works, and the server is healthy after the refusals', async () => {
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(),
                             { key: gw.keys.agent_key });
    assert.equal(r.status, 200, r.text);
    await assertHealthy(gw.port);
});

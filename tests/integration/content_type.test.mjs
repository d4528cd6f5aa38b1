// Scenario: a POST whose Content-Type is not application/json is 415 UNSUPPORTED_MEDIA_TYPE and
// is not forwarded, even when the body is valid JSON; application/json with parameters is fine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, request, chatBody, assertError, assertHealthy,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock });
    key = gw.keys.agent_key;
});

function post(p, contentType, body = JSON.stringify(chatBody())) {
    const headers = { authorization: `Bearer ${key}` };
    if (contentType !== undefined) headers['content-type'] = contentType;
    return request(gw.port, { method: 'POST', path: p, headers, body });
}

for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
                  'application/jsonx', 'application/json-seq', 'text/json', 'application/xml']) {
    test(`Content-Type ${ct} is 415 UNSUPPORTED_MEDIA_TYPE`, async () => {
        await mock.reset();
        assertError(await post('/v1/chat/completions', ct), 415, 'UNSUPPORTED_MEDIA_TYPE');
        assertError(await post('/v1/embeddings', ct,
                               JSON.stringify({ model: 'text-embedding-3-small', input: 'x' })),
                    415, 'UNSUPPORTED_MEDIA_TYPE');
        assert.equal((await mock.stats()).requests, 0, 'forwarded despite the media type');
    });
}

test('a POST without a Content-Type is refused and not forwarded', async () => {
    await mock.reset();
    const r = await post('/v1/chat/completions', undefined);
    assert.ok(r.status === 415 || r.status === 400, `${r.status} ${r.text}`);
    assert.ok(['UNSUPPORTED_MEDIA_TYPE', 'INVALID_REQUEST'].includes(r.json?.error?.code), r.text);
    assert.equal((await mock.stats()).requests, 0);
});

test('application/json with a charset parameter is accepted', async () => {
    await mock.reset();
    const r = await post('/v1/chat/completions', 'application/json; charset=utf-8');
    assert.equal(r.status, 200, r.text);
    assert.equal((await mock.stats()).requests, 1);
    await assertHealthy(gw.port);
});

// Scenario: routing. Unknown paths are 404 NOT_FOUND and known paths with the wrong method are
// 405 METHOD_NOT_ALLOWED, both as JSON errors, never forwarded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, request, chatBody, assertError,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock });
    key = gw.keys.agent_key;
});

const call = (method, p, body) => request(gw.port, {
    method, path: p, body,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
});

const NOT_FOUND = [
    ['GET', '/'],
    ['GET', '/nope'],
    ['POST', '/v1/completions'],
    ['POST', '/v1/chat/completions/extra'],
    ['POST', '/v1/chat'],
    ['GET', '/v2/models'],
    ['GET', '/__mock/stats'],
];

for (const [method, p] of NOT_FOUND) {
    test(`${method} ${p} is 404 NOT_FOUND`, async () => {
        await mock.reset();
        const body = method === 'POST' ? JSON.stringify(chatBody()) : undefined;
        assertError(await call(method, p, body), 404, 'NOT_FOUND');
        assert.equal((await mock.stats()).requests, 0);
    });
}

const WRONG_METHOD = [
    ['GET', '/v1/chat/completions'],
    ['PUT', '/v1/chat/completions'],
    ['DELETE', '/v1/chat/completions'],
    ['GET', '/v1/embeddings'],
    ['POST', '/v1/models'],
    ['DELETE', '/v1/models'],
];

for (const [method, p] of WRONG_METHOD) {
    test(`${method} ${p} is 405 METHOD_NOT_ALLOWED`, async () => {
        await mock.reset();
        const body = method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(chatBody());
        assertError(await call(method, p, body), 405, 'METHOD_NOT_ALLOWED');
        assert.equal((await mock.stats()).requests, 0);
    });
}

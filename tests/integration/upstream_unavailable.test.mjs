// Scenario: the upstream is down (its URL points at a closed port): 502 UPSTREAM_UNAVAILABLE,
// promptly, with the allow receipt and an outcome receipt; the server stays healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
    Scope, startGateway, request, postJson, chatBody, assertError, assertDecision, waitOutcome,
    predicate, assertHealthy,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

// A port that was free a moment ago and has nothing listening now.
async function closedPort() {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r));
    return port;
}

let gw, key;
before(async () => {
    const port = await closedPort();
    gw = await startGateway(scope, { upstream: `http://127.0.0.1:${port}/v1`,
                                     config: { connectTimeoutMs: 2000 } });
    key = gw.keys.agent_key;
});

test('a closed upstream port is 502 UPSTREAM_UNAVAILABLE with a receipt', async () => {
    const t0 = Date.now();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key });
    assertError(r, 502, 'UPSTREAM_UNAVAILABLE', { receipt: true });
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    const index = assertDecision(r, 'allow', gw.keys);
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.notEqual(op.status, 'ok');
    assert.equal(op.http_status, 502);
});

test('embeddings, streaming and models fail the same way', async () => {
    assertError(await postJson(gw.port, '/v1/embeddings',
                               { model: 'text-embedding-3-small', input: 'x' }, { key }),
                502, 'UPSTREAM_UNAVAILABLE');
    assertError(await postJson(gw.port, '/v1/chat/completions',
                               chatBody('gpt-4o-mini', 'hi', { stream: true }), { key }),
                502, 'UPSTREAM_UNAVAILABLE');
    assertError(await request(gw.port, { path: '/v1/models',
                                         headers: { authorization: `Bearer ${key}` } }),
                502, 'UPSTREAM_UNAVAILABLE');
});

test('the server stays healthy', async () => {
    await assertHealthy(gw.port);
});

// Scenario: graceful shutdown. SIGTERM while a request is in flight (upstream --latency-ms 500)
// lets it finish with 200, then the process exits 0 and the call's receipts are in the log.
// SIGINT on an idle server exits 0 too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, postJson, chatBody, assertDecision, receiptAt, outcomeOf,
    predicate, healthz, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

test('SIGTERM drains an in-flight request, then exits 0', async () => {
    const mock = await startMock(scope, { latencyMs: 500 });
    const gw = await startGateway(scope, { upstream: mock });
    const pending = postJson(gw.port, '/v1/chat/completions', chatBody(),
                             { key: gw.keys.agent_key, timeoutMs: 10000 });
    // Wait until the call has reached the upstream, then ask the server to stop.
    for (let i = 0; i < 40 && (await mock.stats()).requests === 0; i++) await sleep(25);
    assert.equal((await mock.stats()).requests, 1, 'the call never reached the upstream');
    const t0 = Date.now();
    gw.proc.kill('SIGTERM');
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'chat.completion');
    const index = assertDecision(r, 'allow', gw.keys);
    const { code, signal } = await gw.proc.waitExit(10000);
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0, `exit ${code}; stderr:\n${gw.proc.stderr}`);
    assert.ok(Date.now() - t0 < 8000);
    // The ledger was flushed on the way out.
    const d = receiptAt(gw.dir, index);
    assert.ok(d, 'decision receipt missing after shutdown');
    const o = outcomeOf(gw.dir, d);
    assert.ok(o, 'outcome receipt of the drained call missing after shutdown');
    assert.equal(predicate(o).status, 'ok');
    // And it no longer listens.
    await assert.rejects(healthz(gw.port));
});

test('SIGINT on an idle server exits 0 promptly', async () => {
    const gw = await startGateway(scope, { upstreamFlag: 'mock' });
    assert.equal((await healthz(gw.port)).status, 200);
    gw.proc.kill('SIGINT');
    const { code, signal } = await gw.proc.waitExit(5000);
    assert.equal(signal, null);
    assert.equal(code, 0, gw.proc.stderr);
});

test('a restart on the same data dir continues the same log', async () => {
    const mock = await startMock(scope);
    const first = await startGateway(scope, { upstream: mock });
    const a = await postJson(first.port, '/v1/chat/completions', chatBody(),
                             { key: first.keys.agent_key });
    assert.equal(a.status, 200);
    const ia = assertDecision(a, 'allow', first.keys);
    first.proc.kill('SIGTERM');
    assert.equal((await first.proc.waitExit(10000)).code, 0);
    const second = await startGateway(scope, { upstream: mock, data: first.data });
    const b = await postJson(second.port, '/v1/chat/completions', chatBody(),
                             { key: first.keys.agent_key });
    assert.equal(b.status, 200, b.text);
    const ib = assertDecision(b, 'allow', first.keys);
    assert.ok(ib > ia, `index went from ${ia} to ${ib} across a restart`);
    assert.ok(receiptAt(first.dir, ia) && receiptAt(first.dir, ib));
});

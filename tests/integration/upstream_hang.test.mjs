// Scenario: the upstream never answers (mock-hang). With upstream.timeout_ms 1000 the client
// gets 504 UPSTREAM_TIMEOUT shortly after the deadline, with the allow receipt, and the
// outcome receipt says "upstream_timeout". The server stays healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, postJson, chatBody, assertError, assertDecision,
    waitOutcome, predicate, assertHealthy, readLedger,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const TIMEOUT_MS = 1000;
let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, {
        upstream: mock,
        config: { timeoutMs: TIMEOUT_MS,
                  orgs: { default: ['gpt-4o-mini', 'mock-hang'] } },
    });
    key = gw.keys.agent_key;
});

async function hang(extra) {
    await mock.reset();
    const t0 = Date.now();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody('mock-hang', 'wait', extra),
                             { key, timeoutMs: 15000 });
    const dt = Date.now() - t0;
    assertError(r, 504, 'UPSTREAM_TIMEOUT', { receipt: true });
    assert.ok(dt >= TIMEOUT_MS - 100, `504 after only ${dt} ms`);
    assert.ok(dt < TIMEOUT_MS + 3000, `504 after ${dt} ms (timeout_ms ${TIMEOUT_MS})`);
    const index = assertDecision(r, 'allow', gw.keys);
    assert.equal((await mock.stats()).requests, 1, 'the call should have been forwarded once');
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.status, 'upstream_timeout');
    assert.equal(op.http_status, 504);
}

test('a hung upstream is 504 UPSTREAM_TIMEOUT after timeout_ms, recorded', async () => {
    await hang({});
    assert.ok(readLedger(gw.dir).includes('"status":"upstream_timeout"'));
});

test('a hung upstream for a streaming request is also 504', async () => {
    await hang({ stream: true });
});

test('parallel hung calls all time out and other calls keep working meanwhile', async () => {
    const hung = Array.from({ length: 6 }, () =>
        postJson(gw.port, '/v1/chat/completions', chatBody('mock-hang'), { key }));
    const ok = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini'), { key });
    assert.equal(ok.status, 200, ok.text);
    for (const r of await Promise.all(hung)) assertError(r, 504, 'UPSTREAM_TIMEOUT');
    await assertHealthy(gw.port);
});

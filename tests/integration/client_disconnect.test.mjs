// Scenario: the client goes away in the middle of a stream (mock-slow-stream: one chunk every
// 200 ms for 60 s). Chunks are passed through as they come; after the disconnect the outcome
// receipt says "client_disconnected" within a couple of seconds, and the server stays healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, rawConnect, postJson, chatBody, sseData, waitOutcome,
    predicate, readLedger, assertHealthy, waitFor, RECEIPT_ID_RE,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, {
        upstream: mock,
        config: { orgs: { default: ['gpt-4o-mini', 'mock-slow-stream'] } },
    });
    key = gw.keys.agent_key;
});

const streamBody = JSON.stringify(chatBody('mock-slow-stream', 'go', { stream: true }));

test('raw socket: first chunk passes through at once; disconnect is recorded', async () => {
    const c = await rawConnect(gw.port);
    const t0 = Date.now();
    c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                 `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
                 `Content-Length: ${streamBody.length}\r\n\r\n${streamBody}`);
    await waitFor(() => /\r\n\r\n[\s\S]*data:/.test(c.data.toString('latin1')) || c.closedAt,
                  { timeoutMs: 3000, what: 'the first SSE chunk through the gateway' });
    const firstChunkMs = Date.now() - t0;
    const text = c.data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /content-type: text\/event-stream/i);
    assert.match(text, /bulwark-decision: allow/i);
    const id = text.match(/bulwark-receipt-id: (\S+)/i)?.[1];
    assert.match(String(id), RECEIPT_ID_RE);
    assert.ok(firstChunkMs < 2000, `first chunk after ${firstChunkMs} ms: not passed through`);
    assert.ok(!c.closedAt, 'the gateway closed the stream');

    c.sock.destroy();
    const index = Number(id.split('.')[1]);
    const outcome = await waitOutcome(gw.dir, index, 3000);
    assert.equal(predicate(outcome).status, 'client_disconnected');
    assert.ok(readLedger(gw.dir).includes('"status":"client_disconnected"'));
    // billed for what the upstream produced before the disconnect, not the worst case
    const usage = predicate(outcome).usage;
    assert.equal(usage.source, 'estimated');
    assert.ok(usage.completion_tokens >= 0 && usage.completion_tokens < 20,
              `billed ${usage.completion_tokens} completion tokens for what was produced`);
    await assertHealthy(gw.port);
});

test('fetch with AbortController after the first chunk: recorded the same way', async () => {
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${gw.port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: streamBody,
        signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const id = res.headers.get('bulwark-receipt-id');
    assert.match(String(id), RECEIPT_ID_RE);
    const reader = res.body.getReader();
    const { value } = await reader.read();
    assert.ok(value && value.length > 0);
    ac.abort();
    await reader.cancel().catch(() => {});
    const outcome = await waitOutcome(gw.dir, Number(id.split('.')[1]), 3000);
    assert.equal(predicate(outcome).status, 'client_disconnected');
});

test('ten streams dropped at once: all recorded, server healthy, streaming still works', async () => {
    const conns = await Promise.all(Array.from({ length: 10 }, () => rawConnect(gw.port)));
    for (const c of conns)
        c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                     `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
                     `Content-Length: ${streamBody.length}\r\n\r\n${streamBody}`);
    await waitFor(() => conns.every((c) => c.data.includes('data:')),
                  { timeoutMs: 5000, what: 'first chunks on 10 streams' });
    const ids = conns.map((c) => c.data.toString('latin1').match(/bulwark-receipt-id: (\S+)/i)[1]);
    for (const c of conns) c.sock.destroy();
    for (const id of ids) {
        const o = await waitOutcome(gw.dir, Number(id.split('.')[1]), 4000);
        assert.equal(predicate(o).status, 'client_disconnected');
    }
    await assertHealthy(gw.port);
    const r = await postJson(gw.port, '/v1/chat/completions',
                             chatBody('gpt-4o-mini', 'hi', { stream: true }), { key });
    assert.equal(r.status, 200);
    assert.equal(sseData(r.text).at(-1), '[DONE]');
});

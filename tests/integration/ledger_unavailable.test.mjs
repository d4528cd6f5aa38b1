// Scenario: the ledger cannot write (the running server's RLIMIT_FSIZE lowered to the log's
// current size, so appends fail with EFBIG). The log keeps a zero-filled runway ahead of its
// data (ledger.preallocate_bytes, small here): calls that fit in it still go through, each with
// its receipt; once it is used up calls are refused 503 LEDGER_UNAVAILABLE and nothing is
// forwarded: no receipt, no forward. Once the limit is lifted, calls work again and the log is
// still well formed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import {
    Scope, startMock, startGateway, postJson, chatBody, assertError, assertDecision,
    receiptAt, receipts, ledgerPath, waitFor, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
let gw, mock, key;
let limited = false;

// Only the soft limit: lowering the hard one could not be undone without CAP_SYS_RESOURCE.
const prlimit = (pid, v) => execFileSync('prlimit', ['--pid', String(pid), `--fsize=${v}:`]);

after(async () => {
    if (limited && gw?.proc.alive) {
        try {
            prlimit(gw.pid, 'unlimited');
        } catch {
            /* the process is gone */
        }
    }
    await scope.cleanup();
});

before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock, config: { preallocateBytes: 16384 } });
    key = gw.keys.agent_key;
});

test('ledger write failure: 503 LEDGER_UNAVAILABLE, nothing forwarded; recovers after', async () => {
    const ok = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key });
    assert.equal(ok.status, 200, ok.text);
    const firstIndex = assertDecision(ok, 'allow');
    // Let the outcome receipt and the runway top-up land so the file is quiet before we pin
    // its size.
    await sleep(300);
    const size = fs.statSync(ledgerPath(gw.dir)).size;
    assert.ok(size >= 16384, `no runway preallocated: ${size} bytes`);
    prlimit(gw.pid, size);
    limited = true;
    await mock.reset();

    // Calls that fit in the runway are recorded and forwarded; then the ledger runs out.
    let recorded = 0;
    for (;;) {
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key, timeoutMs: 10000 });
        if (r.status !== 200) {
            assertError(r, 503, 'LEDGER_UNAVAILABLE');
            break;
        }
        assertDecision(r, 'allow');
        recorded++;
        assert.ok(recorded < 60, 'a 16 KiB runway should hold far fewer calls');
    }
    assert.ok(recorded >= 1, 'the runway was not used');
    assert.equal((await mock.stats()).requests, recorded);
    // The failed batch was rolled back to the durable end; a smaller batch could still fit
    // below the limit. Pin the limit at what is on disk now, so every write must grow the file.
    await sleep(300);
    const full = fs.statSync(ledgerPath(gw.dir)).size;
    assert.ok(full <= size, 'the log grew past the limit');
    prlimit(gw.pid, full);

    for (const body of [chatBody(), chatBody('gpt-4o', 'stream', { stream: true })]) {
        const r = await postJson(gw.port, '/v1/chat/completions', body, { key, timeoutMs: 10000 });
        assertError(r, 503, 'LEDGER_UNAVAILABLE');
        assert.notEqual(r.headers['bulwark-decision'], 'allow', 'an unrecorded call was allowed');
    }
    const emb = await postJson(gw.port, '/v1/embeddings',
                               { model: 'text-embedding-3-small', input: 'x' }, { key });
    assertError(emb, 503, 'LEDGER_UNAVAILABLE');
    // A denied call is also unrecordable: still refused, still nothing forwarded.
    const denied = await postJson(gw.port, '/v1/chat/completions', chatBody('not-a-model'), { key });
    assert.ok(denied.status === 503 || denied.status === 403, `${denied.status} ${denied.text}`);
    assert.equal((await mock.stats()).requests, recorded, 'forwarded without a durable receipt');
    assert.equal(fs.statSync(ledgerPath(gw.dir)).size, full, 'the log grew past the limit');

    prlimit(gw.pid, 'unlimited');
    limited = false;
    const again = await waitFor(async () => {
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key });
        return r.status === 200 ? r : null;
    }, { timeoutMs: 5000, intervalMs: 200, what: 'a 200 after the limit was lifted' });
    const index = assertDecision(again, 'allow');
    assert.ok(index > firstIndex);
    assert.equal((await mock.stats()).requests, recorded + 1);
    assert.ok(receiptAt(gw.dir, index), 'the new receipt is not in the log');

    // The log is well formed: leaf indices consecutive, no gap or repeat from the failed writes.
    const idx = receipts(gw.dir).map((r) => r.obj.predicate.log.index);
    assert.deepEqual(idx, idx.map((_, i) => idx[0] + i), `leaf indices ${idx}`);
});

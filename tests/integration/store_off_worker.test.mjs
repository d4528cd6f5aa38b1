// store_off_worker: the debug assertion that no event worker enters the store (issue 15,
// docs/INTERNALS.md "Store jobs"). Workers mark themselves; every store transaction checks.
// Without BULWARK_ASSERT_STORE_OFF_WORKER the gateway counts each such entry in
// bulwark_store_calls_on_worker_total and logs the function's name (at most once a second);
// with BULWARK_ASSERT_STORE_OFF_WORKER=1 it logs one line naming the function and aborts.
//
// The request used here is the console's key sign-in (POST /console/api/login): it still reads
// the key and writes the session on the worker (src/console/console_api.c). Chat completions and
// the management API no longer do (store jobs: src/proxy/call_jobs.c, src/api/api_job.c). When
// sign-in moves to a store job too, this file's route must change to one that still enters the
// store on a worker (the MCP gateway's, today), or the file goes and
// tests/unit/util/test_thread_role.c (a fake worker thread) remains the proof.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, request, waitFor } from './lib/harness.mjs';
import { startUpstream, startObservedGateway } from './lib/observe.mjs';
import { parsePrometheus, sampleValue } from './lib/prometheus.mjs';

const scope = new Scope();
let up;
after(async () => {
    if (up) up.close();
    await scope.cleanup();
});

const onWorker = async (gw) => {
    const r = await request(gw.port, { path: '/metrics',
                                       headers: { authorization: `Bearer ${gw.opKey}` } });
    assert.equal(r.status, 200, r.text);
    return sampleValue(parsePrometheus(r.text), 'bulwark_store_calls_on_worker_total');
};

const signIn = (gw) => request(gw.port, {
    method: 'POST', path: '/console/api/login', body: JSON.stringify({ key: gw.keys.admin_key }),
    headers: { 'content-type': 'application/json' },
});

test('without the assertion a worker entering the store is counted and named, never fatal',
     async () => {
    up = up || await startUpstream();
    const gw = await startObservedGateway(scope, { upstream: up.v1 });
    const before = await onWorker(gw);
    const r = await signIn(gw);
    assert.equal(r.status, 200, r.text);
    const after = await onWorker(gw);
    assert.ok(after > before, `bulwark_store_calls_on_worker_total ${before} -> ${after}`);
    await gw.proc.waitStderr(/store: \w+ called on an event worker \(bulwark_store_calls_on/);
    assert.ok(gw.proc.alive, 'the gateway keeps serving');
    const stats = await request(gw.port, { path: '/metrics',
                                           headers: { authorization: `Bearer ${gw.opKey}` } });
    const fam = parsePrometheus(stats.text);
    assert.ok(sampleValue(fam, 'bulwark_store_jobs_total', { result: 'full' }) === 0);
    assert.ok(sampleValue(fam, 'bulwark_store_jobs_queued') >= 0);
});

test('with BULWARK_ASSERT_STORE_OFF_WORKER=1 a worker entering the store aborts the process',
     async () => {
    up = up || await startUpstream();
    const gw = await startObservedGateway(scope, { upstream: up.v1,
                                                   env: { BULWARK_ASSERT_STORE_OFF_WORKER: '1' } });
    gw.proc.sentSignals.add('SIGABRT'); // expected: the scope must not report it as a crash
    // Start-up (migrations, the pepper, restoring spend) runs on the main thread: no abort.
    assert.ok(gw.proc.alive);
    const r = await signIn(gw).catch((e) => ({ error: e }));
    assert.ok(r.error, `the call must not be answered (got ${r.status})`);
    await gw.proc.waitExit(10000);
    assert.equal(gw.proc.signal, 'SIGABRT');
    const m = gw.proc.stderr.match(
        /store: (\w+) called on an event worker \(BULWARK_ASSERT_STORE_OFF_WORKER=1\): aborting/);
    assert.ok(m, gw.proc.stderr.split('\n').slice(-5).join('\n'));
    assert.match(m[1], /^bw_/, 'the line names the store function');
    await waitFor(() => !gw.proc.alive);
});

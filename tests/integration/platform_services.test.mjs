// Scenario: dependency health and graceful degradation (docs/API.md "Readiness and services").
// On SQLite and on PostgreSQL, one gateway per backend with a crafted upstream (a node server we
// close and reopen on the same port) and a webhook receiver:
//   - /readyz answers {"status":"ready"} without a credential; GET /api/v1/platform/services is
//     the operator's (every dependency), an org owner's or admin's (its own connections only),
//     nobody else's;
//   - a connection's deliveries show in its own org's view, never in another org's;
//   - upstream down: services says so within seconds, calls fail fast (502), /readyz and
//     /healthz keep answering; the upstream back: all up again, calls 200;
//   - ledger unwritable (a file size limit on the running gateway): calls refused 503
//     LEDGER_UNAVAILABLE, /readyz 503 naming "ledger", services ledger down; lifted: recovery;
//   - PostgreSQL stopped: /readyz 503 naming "store" within seconds, calls 503 STORE_UNAVAILABLE
//     at once (no hang), /healthz 200; restarted: recovery without a gateway restart;
//   - no view carries a secret, a URL, a filesystem path, a host:port or a version string.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import {
    Scope, postJson, chatBody, assertError, request, waitFor, sleep, ledgerPath,
} from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
const cleanups = [];
after(async () => {
    for (const f of cleanups.reverse()) {
        try {
            await f();
        } catch {
            /* already gone */
        }
    }
    await scope.cleanup();
});

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;
const prlimit = (pid, v) => execFileSync('prlimit', ['--pid', String(pid), `--fsize=${v}:`]);

// A crafted upstream: answers every chat completion with a fixed, valid answer; close() drops
// it (connections refused), reopen() listens again on the same port.
async function startUpstream() {
    const answer = {
        id: 'chatcmpl-crafted', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'crafted hello' },
                    finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    };
    const u = { port: 0, server: null, requests: 0 };
    const listen = (port) => new Promise((resolve, reject) => {
        u.server = http.createServer((req, res) => {
            req.resume();
            req.on('end', () => {
                u.requests++;
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(answer));
            });
        });
        u.server.once('error', reject);
        u.server.listen(port, '127.0.0.1', () => resolve(u.server.address().port));
    });
    u.port = await listen(0);
    u.v1 = `http://127.0.0.1:${u.port}/v1`;
    u.close = () => new Promise((resolve) => {
        u.server.closeAllConnections();
        u.server.close(() => resolve());
    });
    u.reopen = async () => { await listen(u.port); };
    return u;
}

const readyz = (port) => request(port, { path: '/readyz', timeoutMs: 5000 });
const services = (w, key) => api(w.port, 'GET', '/api/v1/platform/services', key);
const dep = (view, name) => view.json.services.find((s) => s.name === name);

// Every body any view answered, for the leak scan at the end of each backend's test.
function scanViews(bodies, forbidden) {
    for (const text of bodies) {
        assert.ok(!/:\/\//.test(text), `a URL in a view: ${text}`);
        assert.ok(!/\b\d{1,3}(\.\d{1,3}){3}\b/.test(text), `an IP address in a view: ${text}`);
        assert.ok(!/localhost/i.test(text), `a host name in a view: ${text}`);
        assert.ok(!/[A-Za-z0-9\]]:\d{2,5}\b/.test(text), `a host:port in a view: ${text}`);
        assert.ok(!/\/(tmp|home|var|usr|etc|root|run|proc)\b/.test(text), `a path in a view: ${text}`);
        assert.ok(!/\bv?\d+\.\d+(\.\d+)?\b/.test(text), `a version string in a view: ${text}`);
        assert.ok(!/postgres|sqlite|libpq|libcurl|openssl|bulwark\//i.test(text),
                  `a software name in a view: ${text}`);
        for (const f of forbidden)
            assert.ok(!text.includes(f), `"${f}" in a view: ${text}`);
    }
}

for (const backend of ['sqlite', 'pg']) {
    test(`readiness, services and degradation (${backend})`,
         { skip: backend === 'pg' && !pgAvailable() && 'PostgreSQL server binaries missing',
           timeout: 180000 },
         async () => {
        const rx = await startReceiver({ secret: SECRET });
        cleanups.push(() => rx.close());
        const up = await startUpstream();
        cleanups.push(() => up.close());
        const w = await startTenants(scope, backend, {
            yaml: connectionsYaml(rx), config: { upstream: up.v1, preallocateBytes: 16384 },
        });
        cleanups.push(() => w.stop());
        const bodies = [];
        const seen = (r) => { bodies.push(r.text); return r; };
        const agent = w.A.agent;
        let limited = false;
        cleanups.push(() => { if (limited && w.proc.alive) prlimit(w.proc.pid, 'unlimited'); });

        // ---- everything up ----
        const r0 = seen(await readyz(w.port));
        assert.equal(r0.status, 200, r0.text);
        assert.equal(r0.text, '{"status":"ready"}');
        assert.equal(r0.headers['cache-control'], 'no-store');
        // no credential needed, and a bad one changes nothing
        const r1 = seen(await request(w.port, { path: '/readyz',
                                                headers: { authorization: 'Bearer nope' } }));
        assert.equal(r1.status, 200, r1.text);
        const ok = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent });
        assert.equal(ok.status, 200, ok.text);

        // ---- who may read the services ----
        assertError(await services(w, null), 401, 'UNAUTHENTICATED');
        assertError(await services(w, agent), 403, 'ROLE_FORBIDDEN');
        const op = seen(await services(w, w.op));
        assert.equal(op.status, 200, op.text);
        assert.equal(op.json.object, 'platform.services');
        assert.deepEqual(op.json.services.map((s) => s.name), ['store', 'ledger', 'upstream', 'outbox']);
        for (const s of op.json.services) {
            assert.equal(s.status, 'up', `${s.name}: ${JSON.stringify(s)}`);
            assert.ok(s.last_check_ms > Date.now() - 10000, `${s.name} never checked`);
            assert.ok(s.latency_us === null || Number.isInteger(s.latency_us));
            assert.deepEqual(Object.keys(s).sort(),
                             ['last_check_ms', 'last_error', 'latency_us', 'name', 'status']);
        }
        assert.equal(op.json.status, 'up');
        const admin = seen(await services(w, w.A.admin));
        assert.equal(admin.status, 200, admin.text);
        assert.equal(admin.json.services, undefined, 'an org admin sees a platform dependency');
        assert.deepEqual(admin.json.connections, []);

        // ---- a connection's deliveries: its own org sees them, another org never ----
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'ops-hook', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);
        const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'bot' });
        assert.equal(k.status, 201, k.text);
        await waitFor(async () => {
            const v = await services(w, w.op);
            return v.json.connections.some((x) => x.id === c.json.id && x.status === 'up') ? v : null;
        }, { timeoutMs: 10000, intervalMs: 200, what: 'the delivery in the operator view' });
        const mine = seen(await services(w, w.A.admin));
        assert.equal(mine.json.connections.length, 1, mine.text);
        assert.equal(mine.json.connections[0].id, c.json.id);
        assert.equal(mine.json.connections[0].status, 'up');
        assert.ok(Number.isInteger(mine.json.connections[0].latency_us), mine.text);
        const theirs = seen(await services(w, w.B.owner));
        assert.equal(theirs.status, 200, theirs.text);
        assert.deepEqual(theirs.json.connections, [], 'another org sees this org\'s connection');
        assert.ok(!theirs.text.includes(c.json.id));
        assert.ok(!theirs.text.includes(w.A.org_id));
        // the receiver fails: the org's view says so, with a class, not the receiver's answer
        rx.failWith(503);
        const k2 = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'bot2' });
        assert.equal(k2.status, 201, k2.text);
        const failed = await waitFor(async () => {
            const v = await services(w, w.A.admin);
            return v.json.connections[0]?.status === 'down' ? v : null;
        }, { timeoutMs: 10000, intervalMs: 200, what: 'the failed delivery in the org view' });
        seen(failed);
        assert.equal(failed.json.connections[0].last_error, 'http_5xx', failed.text);
        rx.failWith(0);

        // ---- upstream down ----
        await up.close();
        const down = await waitFor(async () => {
            const v = await services(w, w.op);
            return dep(v, 'upstream').status === 'down' ? v : null;
        }, { timeoutMs: 5000, intervalMs: 100, what: 'upstream down in services' });
        seen(down);
        assert.equal(dep(down, 'upstream').last_error, 'refused', down.text);
        let t0 = Date.now();
        const refused = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent });
        assertError(refused, 502, 'UPSTREAM_UNAVAILABLE');
        assert.ok(Date.now() - t0 < 5000, 'a call waited on a dead upstream');
        // what does not need the upstream keeps working
        assert.equal(seen(await readyz(w.port)).status, 200, 'the upstream is not a readiness dependency');
        assert.equal((await request(w.port, { path: '/healthz' })).status, 200);
        assert.equal((await api(w.port, 'GET', '/api/v1/keys', w.A.admin)).status, 200);
        const so = await api(w.port, 'GET', '/api/v1/signoff/readiness', w.A.admin);
        assert.equal(so.status, 200, so.text);
        await up.reopen();
        await waitFor(async () => {
            const v = await services(w, w.op);
            return dep(v, 'upstream').status === 'up' ? v : null;
        }, { timeoutMs: 5000, intervalMs: 100, what: 'upstream up again' });
        const back = await waitFor(async () => {
            const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent });
            return r.status === 200 ? r : null;
        }, { timeoutMs: 5000, intervalMs: 200, what: 'a 200 once the upstream is back' });
        assert.match(back.text, /crafted hello/);

        // ---- ledger unwritable ----
        await sleep(300);
        const size = fs.statSync(ledgerPath(w.dir)).size;
        prlimit(w.proc.pid, size);
        limited = true;
        let refusedCall;
        for (let i = 0; ; i++) {
            assert.ok(i < 60, 'a 16 KiB runway should hold far fewer calls');
            const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent, timeoutMs: 10000 });
            if (r.status !== 200) {
                refusedCall = r;
                break;
            }
        }
        assertError(refusedCall, 503, 'LEDGER_UNAVAILABLE');
        const nr = seen(await waitFor(async () => {
            const r = await readyz(w.port);
            return r.status === 503 ? r : null;
        }, { timeoutMs: 3000, intervalMs: 100, what: 'readyz naming the ledger' }));
        assert.equal(nr.json.status, 'not_ready');
        assert.ok(nr.json.failing.includes('ledger'), nr.text);
        assert.deepEqual(Object.keys(nr.json).sort(), ['failing', 'status']);
        const lv = seen(await services(w, w.op));
        assert.equal(dep(lv, 'ledger').status, 'down', lv.text);
        assert.equal(dep(lv, 'ledger').last_error, 'unwritable', lv.text);
        assert.equal((await request(w.port, { path: '/healthz' })).status, 200);
        // every write must now grow the file: an admin change is refused and changes nothing
        await sleep(300);
        prlimit(w.proc.pid, fs.statSync(ledgerPath(w.dir)).size);
        const keysBefore = (await api(w.port, 'GET', '/api/v1/keys', w.A.admin)).json.data.length;
        assertError(await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'nope' }),
                    503, 'LEDGER_UNAVAILABLE');
        assert.equal((await api(w.port, 'GET', '/api/v1/keys', w.A.admin)).json.data.length, keysBefore,
                     'a key was made without its receipt');
        // what only reads durable evidence keeps working
        assert.equal((await request(w.port, { path: '/api/v1/ledger/checkpoint' })).status, 200);
        assert.equal((await api(w.port, 'GET', '/api/v1/signoff/readiness', w.A.admin)).status, 200);
        prlimit(w.proc.pid, 'unlimited');
        limited = false;
        await waitFor(async () => ((await readyz(w.port)).status === 200 ? true : null),
                      { timeoutMs: 10000, intervalMs: 200, what: 'readyz after the ledger recovered' });
        await waitFor(async () => {
            const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent });
            return r.status === 200 ? r : null;
        }, { timeoutMs: 5000, intervalMs: 200, what: 'a 200 once the ledger is writable' });

        // ---- the database stops (PostgreSQL) ----
        if (backend === 'pg') {
            w.pgPause();
            const ns = await waitFor(async () => {
                const r = await readyz(w.port);
                return r.status === 503 ? r : null;
            }, { timeoutMs: 5000, intervalMs: 100, what: 'readyz naming the store' });
            seen(ns);
            assert.deepEqual(ns.json, { status: 'not_ready', failing: ['store'] });
            await sleep(1200); // past the 1 s key cache: the call must reach the store
            t0 = Date.now();
            const sc = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent, timeoutMs: 10000 });
            assertError(sc, 503, 'STORE_UNAVAILABLE');
            assert.ok(Date.now() - t0 < 3000, `a call waited ${Date.now() - t0} ms on a dead store`);
            // the operator's key cannot be checked without the store: fail closed
            assertError(seen(await services(w, w.op)), 503, 'STORE_UNAVAILABLE');
            assert.equal((await request(w.port, { path: '/healthz' })).status, 200);
            w.pgResume();
            await waitFor(async () => ((await readyz(w.port)).status === 200 ? true : null),
                          { timeoutMs: 10000, intervalMs: 200, what: 'readyz after the store came back' });
            const sv = await waitFor(async () => {
                const v = await services(w, w.op);
                return v.status === 200 && dep(v, 'store').status === 'up' ? v : null;
            }, { timeoutMs: 10000, intervalMs: 200, what: 'store up in services' });
            seen(sv);
            await waitFor(async () => {
                const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agent });
                return r.status === 200 ? r : null;
            }, { timeoutMs: 5000, intervalMs: 200, what: 'a 200 once the store is back' });
        }

        scanViews(bodies, [SECRET, SECRET.slice(6, 30), w.dir,
                           w.op, w.A.admin, agent, ...(w.database ? [w.database] : [])]);
    });
}

// The egress guard at send time (docs/EGRESS.md "Connections"): a connection saved while its
// destination was allowed is not delivered to once the operator allowlist no longer allows it.
// The attempt is refused before any connection is made, the connection is marked unhealthy
// with EGRESS_BLOCKED (not silently dropped), the event waits; when the destination is allowed
// again and the connection is re-verified, the waiting event is delivered at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Scope, waitFor, sleep } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml, restartGateway } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const OUTBOX = 'outbox:\n  backoff_base_ms: 60000\n  backoff_max_ms: 60000\n  poll_ms: 100';

test('blocked at send time: unhealthy, waits, delivered after re-verification', async () => {
    const rx = await startReceiver({ secret: SECRET });
    const allowed = connectionsYaml(rx, OUTBOX);
    const w = await startTenants(scope, 'sqlite', { yaml: allowed });
    try {
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'ops', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);
        await w.proc.stop(3000);

        // the operator removes 127.0.0.1 from the allowlist
        const blocked = allowed.replace('  allow: ["127.0.0.1/32"]', '  allow: []');
        assert.notEqual(blocked, allowed);
        let g = await restartGateway(scope, w, blocked);
        const hits = rx.hits.length;
        const k = await api(g.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'b' });
        assert.equal(k.status, 201);
        const one = await waitFor(async () => {
            const r = await api(g.port, 'GET', `/api/v1/connections/${c.json.id}`, w.A.admin);
            return r.json.status === 'unhealthy' && r;
        }, { timeoutMs: 10000, what: 'the connection to turn unhealthy' });
        assert.equal(one.json.status_reason, 'EGRESS_BLOCKED');
        assert.deepEqual(one.json.outbox, { pending: 0, failed: 1, delivered: 0, dead: 0 });
        assert.equal(rx.hits.length, hits, 'a blocked destination was dialled');
        // the log line is written by the log's own thread: it may land just after the status
        await waitFor(() => /unhealthy: EGRESS_BLOCKED/.test(g.proc.stderr), { what: 'the log line' });
        // re-verification is refused by the guard too, before any network
        const v = await api(g.port, 'POST', `/api/v1/connections/${c.json.id}/verify`, w.A.admin, {});
        assert.equal(v.status, 200, v.text);
        assert.equal(v.json.verification.ok, false);
        assert.equal(v.json.verification.reason, 'EGRESS_BLOCKED');
        assert.equal(rx.hits.length, hits);
        await g.proc.stop(3000);

        // allowed again: re-verify, and the waiting event goes out now (not after its backoff)
        g = await restartGateway(scope, w, allowed);
        const ok = await api(g.port, 'POST', `/api/v1/connections/${c.json.id}/verify`, w.A.admin, {});
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.verification.ok, true);
        assert.equal(ok.json.status, 'healthy');
        const d = await waitFor(() => rx.deliveries().find((h) => h.json?.type === 'key.create'),
                                { timeoutMs: 5000, what: 'the waiting event' });
        assert.equal(d.json.data.key_id, k.json.id);
        await sleep(300);
        const r = await api(g.port, 'GET', `/api/v1/connections/${c.json.id}`, w.A.admin);
        assert.deepEqual(r.json.outbox, { pending: 0, failed: 0, delivered: 1, dead: 0 });
        await g.proc.stop(3000);
    } finally {
        await w.stop();
        await rx.close();
    }
});

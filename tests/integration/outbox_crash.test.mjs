// The outbox survives kill -9 (docs/API.md "Outbox"): events queued while the receiver is down
// are rows in the database, not memory. The gateway is killed with SIGKILL while they wait; a
// new gateway on the same data directory delivers each of them once the receiver is back,
// each exactly once (same webhook-id as before the crash), and the rows end `delivered`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { Scope, sleep, waitFor, runCommand } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml, restartGateway } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const OUTBOX = 'outbox:\n  backoff_base_ms: 100\n  backoff_max_ms: 300\n  poll_ms: 100\n  max_attempts: 100';

async function outboxStates(dir) {
    const r = await runCommand('sqlite3', [path.join(dir, 'bulwark.db'),
                                           'SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
}

test('kill -9 with undelivered events: delivered once after restart', async () => {
    const rx = await startReceiver({ secret: SECRET });
    const yaml = connectionsYaml(rx, OUTBOX);
    const w = await startTenants(scope, 'sqlite', { yaml });
    try {
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'ops', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);
        rx.failWith(503);
        const ids = [];
        for (let i = 0; i < 3; i++) {
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: `b${i}` });
            assert.equal(k.status, 201);
            ids.push(k.json.id);
        }
        // every event has been tried (and refused) at least once, so it is a row, not a plan
        const seen = await waitFor(() => {
            const m = new Map();
            for (const h of rx.hits)
                if (h.json?.type === 'key.create') m.set(h.json.data.key_id, h.headers['webhook-id']);
            return ids.every((id) => m.has(id)) && m;
        }, { timeoutMs: 10000, what: 'a first attempt of each event' });
        w.proc.kill('SIGKILL');
        await w.proc.exited;
        assert.equal(rx.deliveries().filter((h) => h.json?.type === 'key.create').length, 0);
        assert.equal(await outboxStates(w.dir), 'failed|3');

        rx.failWith(0);
        const g = await restartGateway(scope, w, yaml);
        await waitFor(() => ids.every((id) => rx.deliveries().some((h) => h.json?.data?.key_id === id)),
                      { timeoutMs: 10000, what: 'delivery of every event after the restart' });
        await sleep(700);
        for (const id of ids) {
            const got = rx.deliveries().filter((h) => h.json.data.key_id === id);
            assert.equal(got.length, 1, `event for ${id} delivered ${got.length} times`);
            assert.equal(got[0].headers['webhook-id'], seen.get(id), 'webhook-id changed across the crash');
        }
        assert.equal(await outboxStates(w.dir), 'delivered|3');
        await g.proc.stop(3000);
    } finally {
        await w.stop();
        await rx.close();
    }
});

// The durable outbox (docs/API.md "Outbox"): a key change becomes an event delivered to the
// org's webhook connection, signed per Standard Webhooks (verified here by the official
// `standardwebhooks` package) with the event id as webhook-id; a receiver that fails gets
// retries with growing, jittered waits and the event once it recovers; a delivered event is not
// sent again; an event that keeps failing dies after outbox.max_attempts; the connection is
// marked unhealthy while deliveries fail and healthy again after one succeeds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Scope, sleep, waitFor } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const OUTBOX = 'outbox:\n  backoff_base_ms: 200\n  backoff_max_ms: 1600\n  poll_ms: 100\n  max_attempts: 5';

const byId = (rx, id) => rx.hits.filter((h) => h.headers['webhook-id'] === id);
const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;

for (const backend of ['sqlite', 'pg'])
test(`key events are delivered signed, retried with backoff, never twice, dead after max attempts (${backend})`,
     { skip: backend === 'pg' && !pgAvailable() && 'PostgreSQL server binaries missing' },
     async () => {
    const rx = await startReceiver({ secret: SECRET });
    const w = await startTenants(scope, backend, { yaml: connectionsYaml(rx, OUTBOX) });
    try {
        const admin = w.A.admin;
        const c = await api(w.port, 'POST', '/api/v1/connections', admin,
                            { kind: 'webhook', name: 'ops', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);

        // 1. a key is created: one signed key.create event arrives
        const k = await api(w.port, 'POST', '/api/v1/keys', admin, { role: 'agent', name: 'bot' });
        assert.equal(k.status, 201, k.text);
        const first = await waitFor(() => rx.deliveries().find((h) => h.json?.type === 'key.create'),
                                    { what: 'key.create delivery' });
        assert.equal(first.verified, true);
        assert.match(first.headers['webhook-id'], /^msg_[A-Za-z0-9_-]{22}$/);
        assert.equal(first.json.data.key_id, k.json.id);
        assert.equal(first.json.data.role, 'agent');
        assert.ok(!first.body.includes(k.json.key), 'the new key was sent to a connection');
        // not delivered again: several polls later, still exactly one request with that id
        await sleep(800);
        assert.equal(byId(rx, first.headers['webhook-id']).length, 1);
        let one = await api(w.port, 'GET', `/api/v1/connections/${c.json.id}`, admin);
        assert.deepEqual(one.json.outbox, { pending: 0, failed: 0, delivered: 1, dead: 0 });

        // 2. the receiver fails (503): retries with growing waits, then delivered when it recovers
        rx.failWith(503);
        const rev = await api(w.port, 'POST', `/api/v1/keys/${k.json.id}/revoke`, admin, {});
        assert.equal(rev.status, 200, rev.text);
        const tries = await waitFor(() => {
            const t = rx.hits.filter((h) => h.json?.type === 'key.revoke');
            return t.length >= 4 && t;
        }, { timeoutMs: 10000, what: 'four failed attempts' });
        const id = tries[0].headers['webhook-id'];
        assert.ok(tries.every((h) => h.headers['webhook-id'] === id), 'webhook-id changed between retries');
        assert.ok(tries.every((h) => h.verified), 'a retry was not signed');
        const gaps = tries.slice(1, 4).map((h, i) => h.at - tries[i].at);
        assert.ok(gaps[2] > gaps[0], `waits did not grow: ${gaps}`);
        assert.ok(gaps[0] >= 90, `first retry too early: ${gaps}`);
        one = await api(w.port, 'GET', `/api/v1/connections/${c.json.id}`, admin);
        assert.equal(one.json.status, 'unhealthy');
        assert.equal(one.json.status_reason, 'HTTP_503');
        assert.equal(one.json.outbox.failed, 1);
        rx.failWith(0);
        await waitFor(() => rx.deliveries().find((h) => h.headers['webhook-id'] === id),
                      { timeoutMs: 10000, what: 'delivery after recovery' });
        await sleep(600);
        assert.equal(rx.deliveries().filter((h) => h.headers['webhook-id'] === id).length, 1);
        one = await api(w.port, 'GET', `/api/v1/connections/${c.json.id}`, admin);
        assert.equal(one.json.status, 'healthy');
        assert.deepEqual(one.json.outbox, { pending: 0, failed: 0, delivered: 2, dead: 0 });

        // 3. a receiver that never recovers: dead after max_attempts (5), then left alone
        rx.failWith(500);
        const k2 = await api(w.port, 'POST', '/api/v1/keys', admin, { role: 'agent', name: 'bot2' });
        assert.equal(k2.status, 201);
        await waitFor(async () => (await api(w.port, 'GET', `/api/v1/connections/${c.json.id}`, admin))
            .json.outbox.dead === 1, { timeoutMs: 15000, what: 'the event to die' });
        const attempts = rx.hits.filter((h) => h.json?.type === 'key.create' &&
                                        h.json.data.key_id === k2.json.id);
        assert.equal(attempts.length, 5);
        await sleep(500);
        assert.equal(rx.hits.filter((h) => h.json?.data?.key_id === k2.json.id).length, 5);
        rx.failWith(0);
    } finally {
        await w.stop();
        await rx.close();
    }
});

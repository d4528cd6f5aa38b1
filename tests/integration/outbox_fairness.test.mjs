// Scenario: outbox fairness (docs/INTERNALS.md "Outbox"). Org A's webhook receiver accepts the
// connection and never answers; org B's events are delivered promptly all the same: a hung
// receiver holds only its own org's delivery slot (bounded by connections.verify_timeout_ms),
// never the queue. Before, one outbox thread visited orgs in turn and B waited for every one of
// A's attempts to time out.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Scope, sleep, waitFor } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
const receivers = [];
after(async () => {
    for (const r of receivers) await r.close();
    await scope.cleanup();
});

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
// Each delivery may wait 6 s for a receiver; a prompt delivery takes milliseconds.
const YAML = 'outbox:\n  backoff_base_ms: 60000\n  poll_ms: 200\n';
const TIMEOUT_MS = 6000;

test('a receiver that never answers does not delay another org\'s deliveries', async () => {
    const rxA = await startReceiver({ secret: SECRET });
    const rxB = await startReceiver({ secret: SECRET });
    receivers.push(rxA, rxB);
    const yaml = connectionsYaml(rxA, YAML).replace('verify_timeout_ms: 3000',
                                                    `verify_timeout_ms: ${TIMEOUT_MS}`);
    const w = await startTenants(scope, 'sqlite', { yaml });
    const ca = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                         { kind: 'webhook', name: 'a', url: rxA.url('/hook'), secret: SECRET });
    assert.equal(ca.status, 201, ca.text);
    const cb = await api(w.port, 'POST', '/api/v1/connections', w.B.owner,
                         { kind: 'webhook', name: 'b', url: rxB.url('/hook'), secret: SECRET });
    assert.equal(cb.status, 201, cb.text);

    // A's receiver hangs; A queues several events, and its first delivery is under way.
    rxA.hangWith(true);
    for (let i = 0; i < 4; i++) {
        const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: `a${i}` });
        assert.equal(k.status, 201, k.text);
    }
    await waitFor(() => rxA.hits.some((h) => h.json?.type === 'key.create'),
                  { timeoutMs: 5000, what: 'a hanging delivery to A' });

    // B's event, several times over: each arrives well within one of A's timeouts.
    for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const k = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'agent', name: `b${i}` });
        assert.equal(k.status, 201, k.text);
        const got = await waitFor(() => rxB.deliveries().find((h) => h.json?.type === 'key.create' &&
                                                                     h.json.data.key_id === k.json.id),
                                  { timeoutMs: 3 * TIMEOUT_MS, what: `B's event ${i}` });
        const late = got.at - t0;
        assert.ok(late < 2000, `B's event ${i} arrived ${late} ms late while A's receiver hung`);
    }
    // A's deliveries were attempted one at a time (its own slot), never all at once.
    const aHits = rxA.hits.filter((h) => h.json?.type === 'key.create');
    assert.ok(aHits.length >= 1 && aHits.length <= 2, `${aHits.length} concurrent deliveries to A`);
    rxA.hangWith(false);
    await sleep(10);
});

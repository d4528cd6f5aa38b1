// Budget events (docs/API.md "Outbox"): when an org's settled spend crosses 80 % of its monthly
// token budget, one `budget.threshold` event reaches its webhook connection, signed; when the
// budget refuses calls, one `budget.exhausted` event, however many calls are refused (the event
// ids name the month, metric and threshold, so the outbox queues each once).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Scope, postJson, chatBody, waitFor, sleep } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;

test('80 % of the monthly tokens, then exhausted: one event each', async () => {
    const rx = await startReceiver({ secret: SECRET });
    const w = await startTenants(scope, 'sqlite', {
        yaml: connectionsYaml(rx, 'outbox:\n  poll_ms: 100') +
              'budgets:\n  default:\n    monthly_tokens: 200\n',
    });
    try {
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'ops', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);
        const budgetEvents = () => rx.deliveries().filter((h) => /^budget\./.test(h.json?.type));
        let refused = 0;
        for (let i = 0; i < 40 && refused < 3; i++) {
            const r = await postJson(w.port, '/v1/chat/completions', chatBody('gpt-4o-mini', 'Hi', { max_tokens: 10 }),
                                     { key: w.A.agent });
            if (r.status === 429) {
                assert.equal(r.json.error.code, 'BUDGET_EXHAUSTED');
                refused++;
                continue;
            }
            assert.equal(r.status, 200, r.text);
            await sleep(50); // settled before the next reservation
        }
        assert.equal(refused, 3);
        await waitFor(() => budgetEvents().length >= 2, { timeoutMs: 5000, what: 'two budget events' });
        await sleep(500);
        const ev = budgetEvents();
        assert.deepEqual(ev.map((h) => h.json.type).sort(), ['budget.exhausted', 'budget.threshold']);
        for (const h of ev) {
            assert.equal(h.verified, true);
            assert.equal(h.json.data.metric, 'tokens');
            assert.equal(h.json.data.limit, 200);
        }
        const t = ev.find((h) => h.json.type === 'budget.threshold');
        assert.equal(t.json.data.percent, 80);
        assert.ok(t.json.data.spent >= 160);
        assert.match(t.headers['webhook-id'], /^budget_\d{4}-\d\d_tokens_80$/);
        // three refusals, one exhausted event (its id names the month)
        const x = ev.find((h) => h.json.type === 'budget.exhausted');
        assert.match(x.headers['webhook-id'], /^budget_\d{4}-\d\d_tokens_exhausted$/);
    } finally {
        await w.stop();
        await rx.close();
    }
});

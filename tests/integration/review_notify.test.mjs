// review_notify: reviewers hear of review items through the org's connections. A call the
// policy holds for approval queues a signed `review.created` event to the org's webhook
// connection; the reviewer's decision queues `review.decided` with the new state. Both carry
// ids and states only (no prompt text).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Scope, postJson, waitFor } from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const POLICY = `version: 1
rules:
  - id: transfer-needs-review
    match: {route: chat, content: 'TRANSFER'}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - id: chat
    match: {route: chat}
    effect: allow
`;

test('review items and decisions are announced to the org\'s connections', async () => {
    const rx = await startReceiver({ secret: SECRET });
    const w = await startTenants(scope, 'sqlite', {
        yaml: connectionsYaml(rx, 'outbox:\n  poll_ms: 100') + 'policy: policy.yaml\n',
        files: { 'policy.yaml': POLICY },
    });
    try {
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'reviews', url: rx.url('/hook'), secret: SECRET });
        assert.equal(c.status, 201, c.text);
        const reviewer = await person(w, w.A.admin, w.A.org_id, { email: 'rev@a.example', role: 'reviewer' });
        const body = { model: 'gpt-4o-mini', max_tokens: 16,
                       messages: [{ role: 'user', content: 'TRANSFER 100 to account 42' }] };
        const r = await postJson(w.port, '/v1/chat/completions', body, { key: w.A.agent });
        assert.equal(r.status, 403);
        const id = r.json.error.review_id;
        const created = await waitFor(() => rx.deliveries().find((h) => h.json?.type === 'review.created'),
                                      { what: 'review.created delivery' });
        assert.equal(created.verified, true);
        assert.equal(created.json.data.review_id, id);
        assert.equal(created.json.data.state, 'pending');
        assert.ok(!created.body.includes('TRANSFER'), 'no prompt text in a notification');
        const ok = await api(w.port, 'POST', `/api/v1/reviews/${id}/approve`, reviewer.key,
                             { comment: 'fine' });
        assert.equal(ok.status, 200, ok.text);
        const decided = await waitFor(() => rx.deliveries().find((h) => h.json?.type === 'review.decided'),
                                      { what: 'review.decided delivery' });
        assert.equal(decided.json.data.review_id, id);
        assert.equal(decided.json.data.state, 'approved');
    } finally {
        await w.stop();
        await rx.close?.();
    }
});

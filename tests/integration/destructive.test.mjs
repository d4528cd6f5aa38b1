// destructive: deleting an agent, purging transcripts, revoking every key and deleting an org
// are read first: a dry run returns the plan and a confirm token bound to it; only the confirm
// call does it, once; a changed state, a reused, foreign or missing token is refused. Runs on
// SQLite and PostgreSQL; the cross-tenant suite covers tokens across orgs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, receipts, predicate } from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';

for (const backend of ['sqlite', 'pg']) {
    describe(`destructive actions on ${backend}`, () => {
        const scope = new Scope();
        let w;

        before(async () => { w = await startTenants(scope, backend); });
        after(async () => { await w?.stop(); await scope.cleanup(); });

        test('without dry run or token: 428 CONFIRM_REQUIRED, nothing changes', async () => {
            const a = await api(w.port, 'POST', '/api/v1/agents', w.A.admin, { name: 'doomed' });
            const r = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete`, w.A.admin, {});
            assert.equal(r.status, 428);
            assert.equal(r.json.error.code, 'CONFIRM_REQUIRED');
            assert.equal((await api(w.port, 'GET', `/api/v1/agents/${a.json.id}`, w.A.admin)).status, 200);
        });

        test('agent delete: dry run shows the plan, confirm does it once, a reused token is refused', async () => {
            const a = await api(w.port, 'POST', '/api/v1/agents', w.A.admin, { name: 'gone-bot' });
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', agent: 'gone-bot' });
            const dry = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete?dry_run=1`, w.A.admin, {});
            assert.equal(dry.status, 200, dry.text);
            assert.equal(dry.json.dry_run, true);
            assert.deepEqual(dry.json.plan, { agent_id: a.json.id, name: 'gone-bot', transcripts_deleted: 0,
                                              keys_revoked: 1 });
            assert.match(dry.json.confirm_token, /^bwc_[A-Za-z0-9_-]{43}$/);
            assert.equal((await api(w.port, 'GET', `/api/v1/agents/${a.json.id}`, w.A.admin)).status, 200,
                         'a dry run changes nothing');
            const wrong = await api(w.port, 'POST', '/api/v1/transcripts/purge', w.A.admin,
                                    { confirm_token: dry.json.confirm_token });
            assert.equal(wrong.status, 409, 'a token is bound to its action');
            const dry2 = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete`, w.A.admin, { dry_run: true });
            const go = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete`, w.A.admin,
                                 { confirm_token: dry2.json.confirm_token });
            assert.equal(go.status, 200, go.text);
            assert.equal(go.json.deleted, true);
            assert.equal((await api(w.port, 'GET', `/api/v1/agents/${a.json.id}`, w.A.admin)).status, 404);
            assert.equal((await api(w.port, 'GET', '/api/v1/me', k.json.key)).status, 401,
                         "the agent's keys are revoked with it");
            const reuse = await api(w.port, 'POST', '/api/v1/keys/revoke-all', w.A.admin,
                                    { confirm_token: dry2.json.confirm_token });
            assert.equal(reuse.status, 403, 'revoke-all needs an owner');
            const p = receipts(w.dir).map(predicate).find((x) => x.route === 'agent.delete');
            assert.equal(p.rule, a.json.id);
        });

        test('a plan whose state changed since the dry run is refused', async () => {
            const dry = await api(w.port, 'POST', '/api/v1/keys/revoke-all?dry_run=1', w.B.owner, {});
            assert.equal(dry.status, 200, dry.text);
            const extra = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'member' });
            assert.equal(extra.status, 201);
            const go = await api(w.port, 'POST', '/api/v1/keys/revoke-all', w.B.owner,
                                 { confirm_token: dry.json.confirm_token });
            assert.equal(go.status, 409);
            assert.equal(go.json.error.code, 'CONFIRM_INVALID');
            assert.equal((await api(w.port, 'GET', '/api/v1/me', extra.json.key)).status, 200);
        });

        test('transcripts purge and revoke-all by plan; bogus tokens refused', async () => {
            const bogus = await api(w.port, 'POST', '/api/v1/transcripts/purge', w.A.admin,
                                    { confirm_token: 'bwc_' + 'A'.repeat(43) });
            assert.equal(bogus.status, 409);
            const dry = await api(w.port, 'POST', '/api/v1/transcripts/purge?dry_run=1', w.A.admin, { before_ms: Date.now() });
            assert.equal(dry.status, 200, dry.text);
            assert.equal(dry.json.plan.messages_deleted, 0);
            assert.match(dry.json.review_id, /^rev_[0-9a-f]{16}$/, 'a purge needs a second admin');
            const confirm = () => api(w.port, 'POST', '/api/v1/transcripts/purge', w.A.admin,
                                      { before_ms: dry.json.plan.before_ms, confirm_token: dry.json.confirm_token });
            const early = await confirm();
            assert.equal(early.status, 409);
            assert.equal(early.json.error.code, 'APPROVAL_PENDING');
            assert.equal(early.json.error.review_id, dry.json.review_id);
            const self = await api(w.port, 'POST', `/api/v1/reviews/${dry.json.review_id}/approve`, w.A.admin,
                                   { comment: 'mine' });
            assert.equal(self.status, 403, 'four eyes: the requester cannot approve');
            const mine = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'admin', name: 'my second key' });
            const twice = await api(w.port, 'POST', `/api/v1/reviews/${dry.json.review_id}/approve`, mine.json.key,
                                    { comment: 'me again' });
            assert.equal(twice.status, 403, 'four eyes: a second key of the same person cannot approve');
            const second = await person(w, w.A.admin, w.A.org_id, { email: 'second@a.example', role: 'admin' });
            const ok = await api(w.port, 'POST', `/api/v1/reviews/${dry.json.review_id}/approve`, second.key,
                                 { comment: 'agreed' });
            assert.equal(ok.status, 200, ok.text);
            const go = await confirm();
            assert.equal(go.status, 200, go.text);
            const again = await confirm();
            assert.equal(again.status, 409, 'the token and the approval are spent');
            const dryAll = await api(w.port, 'POST', '/api/v1/keys/revoke-all?dry_run=1', w.B.owner, {});
            const all = await api(w.port, 'POST', '/api/v1/keys/revoke-all', w.B.owner,
                                  { confirm_token: dryAll.json.confirm_token });
            assert.equal(all.status, 200, all.text);
            assert.ok(all.json.revoked >= 2);
            assert.equal((await api(w.port, 'GET', '/api/v1/me', w.B.owner)).status, 401, 'including the caller');
        });

        test("an owner deleting the org needs a second admin's approval", async () => {
            const made = await api(w.port, 'POST', '/api/v1/orgs', w.op, { name: 'owner-deletes' });
            const owner = made.json.owner_key.key;
            const admin = await api(w.port, 'POST', '/api/v1/keys', owner, { role: 'admin' });
            const dry = await api(w.port, 'POST', '/api/v1/org/delete?dry_run=1', owner, {});
            assert.equal(dry.status, 200, dry.text);
            assert.ok(dry.json.review_id);
            const deny = await api(w.port, 'POST', `/api/v1/reviews/${dry.json.review_id}/deny`, admin.json.key,
                                   { comment: 'no' });
            assert.equal(deny.status, 200, deny.text);
            const go = await api(w.port, 'POST', '/api/v1/org/delete', owner, { confirm_token: dry.json.confirm_token });
            assert.equal(go.status, 409);
            assert.equal(go.json.error.code, 'APPROVAL_DENIED');
            assert.equal((await api(w.port, 'GET', '/api/v1/org', owner)).status, 200, 'the org stays');
        });

        test('org delete by the operator: plan, confirm, and the org is gone with its keys', async () => {
            const made = await api(w.port, 'POST', '/api/v1/orgs', w.op, { name: 'short-lived' });
            assert.equal(made.status, 201, made.text);
            const owner = made.json.owner_key.key;
            assert.equal((await api(w.port, 'GET', '/api/v1/org', owner)).json.name, 'short-lived');
            const dup = await api(w.port, 'POST', '/api/v1/orgs', w.op, { name: 'short-lived' });
            assert.equal(dup.status, 409);
            const dry = await api(w.port, 'POST', `/api/v1/orgs/${made.json.id}/delete?dry_run=1`, w.op, {});
            assert.equal(dry.status, 200, dry.text);
            assert.equal(dry.json.plan.keys, 1);
            const go = await api(w.port, 'POST', `/api/v1/orgs/${made.json.id}/delete`, w.op,
                                 { confirm_token: dry.json.confirm_token });
            assert.equal(go.status, 200, go.text);
            assert.equal((await api(w.port, 'GET', '/api/v1/org', owner)).status, 401);
            const list = await api(w.port, 'GET', '/api/v1/orgs', w.op);
            assert.ok(list.json.data.every((o) => o.id !== made.json.id));
        });
    });
}

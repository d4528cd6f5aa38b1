// principals: four eyes means two people (issue 12, item 4; docs/ACCESS.md "Principals"). Every
// key belongs to one accountable person, fixed at creation. One person cannot be "a second
// admin", a second quorum vote or the approver of their own (or their agent's) call by minting a
// second key, by rotating and approving with the successor, or by binding a key to another
// member. Roles are checked by capability; an admin cannot revoke an owner's key by deleting an
// agent; removing a member revokes every key they made, directly or through their keys; agent
// keys read only their own receipts; signoff readiness counts people. SQLite and PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, assertError, postJson, sleep } from './lib/harness.mjs';
import { startTenants, api, person, memberKey } from './lib/tenants.mjs';

const POLICY = `version: 1
rules:
  - id: transfer-needs-review
    match: {route: chat, content: 'TRANSFER'}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - id: wire-needs-two
    match: {route: chat, content: 'WIRE'}
    effect: require_approval
    approval: {reviewer_role: reviewer, quorum: 2}
  - id: chat
    match: {route: chat}
    effect: allow
`;

for (const backend of ['sqlite', 'pg']) describe(`principals on ${backend}`, () => {
    const scope = new Scope();
    let w;
    const body = (content) => ({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content }] });
    const chat = (content, key) => postJson(w.port, '/v1/chat/completions', body(content), { key });
    const vote = (id, key, verdict = 'approve') =>
        api(w.port, 'POST', `/api/v1/reviews/${id}/${verdict}`, key, { comment: 'checked' });
    const newKey = async (creator, b) => {
        const r = await api(w.port, 'POST', '/api/v1/keys', creator, b);
        assert.equal(r.status, 201, r.text);
        return r.json;
    };
    async function gated(content, key) {
        const r = await chat(content, key);
        return assertError(r, 403, 'APPROVAL_REQUIRED').review_id;
    }

    before(async () => {
        w = await startTenants(scope, backend, { yaml: 'policy: policy.yaml\n', files: { 'policy.yaml': POLICY } });
    });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test('one person is never the second admin: a minted key, a rotated successor, a key bound to another member', async () => {
        const dry = await api(w.port, 'POST', '/api/v1/transcripts/purge?dry_run=1', w.A.admin, { before_ms: Date.now() });
        assert.equal(dry.status, 200, dry.text);
        const rid = dry.json.review_id;
        assert.ok(rid, dry.text);
        // a second key minted by the requester
        const minted = await newKey(w.A.admin, { role: 'admin', name: 'my other key' });
        assert.equal(minted.principal, (await newKey(w.A.admin, { role: 'agent' })).principal,
                     'keys made by one person belong to that person');
        assertError(await vote(rid, minted.key), 403, 'REVIEW_SELF_APPROVAL');
        // its rotated successor
        const rot = await api(w.port, 'POST', `/api/v1/keys/${minted.id}/rotate`, w.A.admin, { grace_s: 60 });
        assert.equal(rot.status, 201, rot.text);
        assert.equal(rot.json.principal, minted.principal, 'rotation keeps the principal');
        assertError(await vote(rid, rot.json.key), 403, 'REVIEW_SELF_APPROVAL');
        // a key bound to another member's id, by someone who is not that member
        const bob = await person(w, w.A.admin, w.A.org_id, { email: 'bob@a.example', role: 'admin' });
        assertError(await api(w.port, 'POST', '/api/v1/keys', w.A.admin,
                              { role: 'admin', member_id: bob.member_id }), 403, 'ROLE_FORBIDDEN');
        // ... nor may another person rotate bob's key (the successor would be bob's)
        assertError(await api(w.port, 'POST', `/api/v1/keys/${bob.id}/rotate`, w.A.admin, {}),
                    403, 'ROLE_FORBIDDEN');
        const item = await api(w.port, 'GET', `/api/v1/reviews/${rid}`, w.A.admin);
        assert.equal(item.json.status, 'pending', item.text);
        // another person approves, and the purge goes through
        assert.equal((await vote(rid, bob.key)).status, 200);
        const go = await api(w.port, 'POST', '/api/v1/transcripts/purge', w.A.admin,
                             { before_ms: dry.json.plan.before_ms, confirm_token: dry.json.confirm_token });
        assert.equal(go.status, 200, go.text);
    });

    test('an owner deleting the org: keys they minted are not a second admin', async () => {
        const made = await api(w.port, 'POST', '/api/v1/orgs', w.op, { name: `solo-${backend}` });
        assert.equal(made.status, 201, made.text);
        const owner = made.json.owner_key.key;
        const admin = await newKey(owner, { role: 'admin' });
        const owner2 = await newKey(owner, { role: 'owner' });
        const dry = await api(w.port, 'POST', '/api/v1/org/delete?dry_run=1', owner, {});
        assert.equal(dry.status, 200, dry.text);
        assertError(await vote(dry.json.review_id, admin.key), 403, 'REVIEW_SELF_APPROVAL');
        assertError(await vote(dry.json.review_id, owner2.key), 403, 'REVIEW_SELF_APPROVAL');
        assertError(await api(w.port, 'POST', '/api/v1/org/delete', owner, { confirm_token: dry.json.confirm_token }),
                    409, 'APPROVAL_PENDING');
    });

    test("an agent key acts for the member who made it: that member cannot approve its calls", async () => {
        // init's agent key belongs to init's owner member, as does the admin key
        const id = await gated('TRANSFER 1 to ann', w.A.agent);
        assertError(await vote(id, w.A.admin), 403, 'REVIEW_SELF_APPROVAL');
        const minted = await newKey(w.A.admin, { role: 'reviewer' });
        assertError(await vote(id, minted.key), 403, 'REVIEW_SELF_APPROVAL');
        // an agent key made by another admin (carl) is carl's: carl cannot approve, the first admin can
        const carl = await person(w, w.A.admin, w.A.org_id, { email: 'carl@a.example', role: 'admin' });
        const bot = await newKey(carl.key, { role: 'agent', agent: 'default' });
        assert.equal(bot.principal, carl.member_id);
        const id2 = await gated('TRANSFER 2 to ben', bot.key);
        assertError(await vote(id2, carl.key), 403, 'REVIEW_SELF_APPROVAL');
        assert.equal((await vote(id2, w.A.admin)).json.status, 'approved');
        assert.equal((await vote(id, carl.key)).json.status, 'approved');
    });

    test('a quorum of 2 needs two people, whatever keys one of them holds', async () => {
        const rita = await person(w, w.A.admin, w.A.org_id, { email: 'rita@a.example', role: 'reviewer' });
        const rita2 = await memberKey(w, w.A.org_id, rita.member_id, 'reviewer');
        const id = await gated('WIRE 3 to cy', w.A.agent);
        assert.equal((await vote(id, rita.key)).json.approvals, 1);
        assertError(await vote(id, rita2.key), 409, 'REVIEW_ALREADY_VOTED');
        // keys the requester's person minted are no second vote either
        const minted = await newKey(w.A.admin, { role: 'reviewer' });
        assertError(await vote(id, minted.key), 403, 'REVIEW_SELF_APPROVAL');
        const item = await api(w.port, 'GET', `/api/v1/reviews/${id}`, w.A.admin);
        assert.equal(item.json.status, 'pending');
        const sam = await person(w, w.A.admin, w.A.org_id, { email: 'sam@a.example', role: 'reviewer' });
        assert.equal((await vote(id, sam.key)).json.status, 'approved');
    });

    test('signoff readiness counts people, not keys', async () => {
        // org B: one owner who mints reviewer keys is still one person; quorum 2 is not covered
        for (let i = 0; i < 3; i++) await newKey(w.B.owner, { role: 'reviewer', name: `r${i}` });
        const r = await api(w.port, 'GET', '/api/v1/signoff/readiness', w.B.owner);
        assert.equal(r.status, 200, r.text);
        const rev = r.json.roles.find((x) => x.role === 'reviewer');
        assert.equal(rev.people, 1, r.text);
        assert.equal(rev.covered, false, r.text);
        assert.equal(r.json.ready, false);
        await person(w, w.B.owner, w.B.org_id, { email: 'rev@b.example', role: 'reviewer' });
        const r2 = await api(w.port, 'GET', '/api/v1/signoff/readiness', w.B.owner);
        assert.equal(r2.json.roles.find((x) => x.role === 'reviewer').people, 2, r2.text);
        assert.equal(r2.json.ready, true, r2.text);
    });

    test('a role is a capability: a `member` person cannot hold a `reviewer` key', async () => {
        const m = await api(w.port, 'POST', '/api/v1/members', w.B.owner, { email: 'mo@b.example', role: 'member' });
        assert.equal(m.status, 201, m.text);
        assertError(await api(w.port, 'POST', `/api/v1/orgs/${w.B.org_id}/keys`, w.op,
                              { member_id: m.json.id, role: 'reviewer' }), 403, 'ROLE_FORBIDDEN');
        assertError(await api(w.port, 'POST', '/api/v1/keys', w.B.owner,
                              { role: 'reviewer', member_id: m.json.id }), 403, 'ROLE_FORBIDDEN');
        const ok = await api(w.port, 'POST', `/api/v1/orgs/${w.B.org_id}/keys`, w.op,
                             { member_id: m.json.id, role: 'member' });
        assert.equal(ok.status, 201, ok.text);
        assertError(await api(w.port, 'GET', '/api/v1/reviews', ok.json.key), 403, 'ROLE_FORBIDDEN');
        // an admin person cannot be issued an owner key either
        const adm = await api(w.port, 'POST', '/api/v1/members', w.B.owner, { email: 'al@b.example', role: 'admin' });
        assertError(await api(w.port, 'POST', `/api/v1/orgs/${w.B.org_id}/keys`, w.op,
                              { member_id: adm.json.id, role: 'owner' }), 403, 'ROLE_FORBIDDEN');
        // and only the operator issues keys to members
        assertError(await api(w.port, 'POST', `/api/v1/orgs/${w.B.org_id}/keys`, w.B.owner,
                              { member_id: adm.json.id, role: 'admin' }), 403, 'ROLE_FORBIDDEN');
    });

    test("an admin cannot revoke an owner's key by deleting the agent it is bound to", async () => {
        const a = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'owned-bot' });
        assert.equal(a.status, 201, a.text);
        const ownerKey = await newKey(w.B.owner, { role: 'owner', agent: 'owned-bot' });
        const admin = await person(w, w.B.owner, w.B.org_id, { email: 'ada@b.example', role: 'admin' });
        assertError(await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete?dry_run=1`, admin.key, {}),
                    403, 'ROLE_FORBIDDEN');
        assertError(await api(w.port, 'POST', `/api/v1/keys/${ownerKey.id}/revoke`, admin.key, {}),
                    403, 'ROLE_FORBIDDEN');
        assert.equal((await api(w.port, 'GET', '/api/v1/me', ownerKey.key)).status, 200);
        // nor an owner's agent key: it is the owner's, directly or through the agent
        const b = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'owners-bot' });
        const ownersAgent = await newKey(w.B.owner, { role: 'agent', agent: 'owners-bot' });
        assertError(await api(w.port, 'POST', `/api/v1/keys/${ownersAgent.id}/revoke`, admin.key, {}),
                    403, 'ROLE_FORBIDDEN');
        assertError(await api(w.port, 'POST', `/api/v1/agents/${b.json.id}/delete?dry_run=1`, admin.key, {}),
                    403, 'ROLE_FORBIDDEN');
        // an agent of the admin's own keys: the admin may
        const c = await api(w.port, 'POST', '/api/v1/agents', admin.key, { name: 'admins-bot' });
        await newKey(admin.key, { role: 'agent', agent: 'admins-bot' });
        assert.equal((await api(w.port, 'POST', `/api/v1/agents/${c.json.id}/delete?dry_run=1`, admin.key, {})).status, 200);
        // the owner may
        const dry = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/delete?dry_run=1`, w.B.owner, {});
        assert.equal(dry.status, 200, dry.text);
    });

    test('removing a member revokes every key they made, directly or through their keys', async () => {
        const dana = await person(w, w.B.owner, w.B.org_id, { email: 'dana@b.example', role: 'admin' });
        const k2 = await newKey(dana.key, { role: 'admin', name: 'dana-2' });
        const k3 = await newKey(k2.key, { role: 'agent', name: 'dana-bot' });
        const k4 = await newKey(dana.key, { role: 'reviewer' });
        const k5 = await newKey(k2.key, { role: 'member' });
        const keys = [dana.key, k2.key, k3.key, k4.key, k5.key];
        for (const k of keys) assert.equal((await api(w.port, 'GET', '/api/v1/me', k)).status, 200);
        const del = await api(w.port, 'DELETE', `/api/v1/members/${dana.member_id}`, w.B.owner);
        assert.equal(del.status, 200, del.text);
        assert.equal(del.json.keys_revoked, 5, del.text);
        for (const k of keys) assert.equal((await api(w.port, 'GET', '/api/v1/me', k)).status, 401);
        assert.equal((await api(w.port, 'GET', '/api/v1/me', w.B.owner)).status, 200);
    });

    test('agent keys read only their own receipts', async () => {
        const x = await newKey(w.A.admin, { role: 'agent', agent: 'default', name: 'x' });
        const y = await newKey(w.A.admin, { role: 'agent', agent: 'default', name: 'y' });
        const r = await chat('hello', x.key);
        assert.equal(r.status, 200, r.text);
        const rid = r.headers['bulwark-receipt-id'];
        assert.ok(rid, 'receipt id header');
        assert.equal((await api(w.port, 'GET', `/api/v1/receipts/${rid}`, x.key)).status, 200);
        assertError(await api(w.port, 'GET', `/api/v1/receipts/${rid}`, y.key), 404, 'NOT_FOUND');
        assertError(await api(w.port, 'GET', `/api/v1/receipts/${rid}`, w.A.agent), 404, 'NOT_FOUND');
        assert.equal((await api(w.port, 'GET', `/api/v1/receipts/${rid}`, w.A.admin)).status, 200);
        // an agent key's own admin-made key change is not its receipt either
        const made = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent' });
        assertError(await api(w.port, 'GET', `/api/v1/receipts/${made.json.receipt_id}`, x.key), 404, 'NOT_FOUND');
        await sleep(1);
    });
});

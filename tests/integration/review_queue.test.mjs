// review_queue: require_approval through the real gateway, on SQLite and on PostgreSQL. A gated
// call answers 403 APPROVAL_REQUIRED with a review_id; reviewers (keys made over the API) list,
// approve and deny it; the same request re-sent with bulwark-approval goes through exactly once,
// also under concurrent re-sends. Refused: a different body, another key, a second use, a denied
// or expired review, the requester (or another key of the same member) approving its own item,
// a second vote by one key or member, another org's review (404). Quorum 2 needs two distinct
// reviewers. Every status change is a `review` receipt in the ledger.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
    Scope, postJson, request, assertError, assertDecision, receiptAt, receipts, predicate,
    sha256, sleep, waitFor, run, RECEIPT_ID_RE,
} from './lib/harness.mjs';
import { startTenants, api as apiCall, person, memberKey } from './lib/tenants.mjs';

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
  - id: quick-expiry
    match: {route: chat, content: 'QUICK'}
    effect: require_approval
    approval: {reviewer_role: reviewer, expires_in_s: 1}
  - id: chat
    match: {route: chat}
    effect: allow
`;

for (const backend of ['sqlite', 'pg']) describe(`review queue on ${backend}`, () => {

const scope = new Scope();
let gw, agent, admin, rev1, rev2, mem1, mem2, otherAdmin, otherAgent;

// A key made by an admin over the API (docs/ACCESS.md): {id, key}.
async function newKey(port, adminKey, body) {
    const r = await apiCall(port, 'POST', '/api/v1/keys', adminKey, body);
    assert.equal(r.status, 201, r.text);
    return { id: r.json.id, key: r.json.key };
}

before(async () => {
    const pdir = await scope.tmpdir('bw-it-review-');
    const policyPath = path.join(pdir, 'policy.yaml');
    await fsp.writeFile(policyPath, POLICY);
    const w = await startTenants(scope, backend, { yaml: `policy: ${policyPath}\n` });
    gw = w;
    agent = w.A.agent;
    admin = w.A.admin;
    // Reviewers are other people: members whose keys the operator issued (docs/ACCESS.md).
    rev1 = (await person(w, admin, w.A.org_id, { email: 'rev1@a.example', role: 'reviewer' })).key;
    rev2 = (await person(w, admin, w.A.org_id, { email: 'rev2@a.example', role: 'reviewer' })).key;
    // Two keys of one person (a member): four eyes and quorum count people, not keys.
    const rita = await person(w, admin, w.A.org_id, { email: 'rita@a.example', role: 'reviewer' });
    mem1 = rita.key;
    mem2 = (await memberKey(w, w.A.org_id, rita.member_id, 'reviewer', 'rita-2')).key;
    otherAdmin = w.B.owner;
    otherAgent = (await newKey(w.port, otherAdmin, { role: 'agent' })).key;
});

after(async () => {
    await gw?.stop();
    await scope.cleanup();
});

const body = (content) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
const chat = (raw, key, approval) => postJson(gw.port, '/v1/chat/completions', raw, {
    key, headers: approval ? { 'bulwark-approval': approval } : {},
});
const api = (method, p, key, json) => request(gw.port, {
    method, path: p,
    headers: { authorization: `Bearer ${key}`, ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json === undefined ? undefined : JSON.stringify(json),
});
const vote = (id, verdict, key, comment = 'looked at it') =>
    api('POST', `/api/v1/reviews/${id}/${verdict}`, key, { comment });

// A gated call: asserts the 403 and returns the review id.
async function gated(raw, key = agent) {
    const r = await chat(raw, key);
    const e = assertError(r, 403, 'APPROVAL_REQUIRED', { receipt: true });
    assert.equal(r.headers['bulwark-decision'], 'require_approval');
    assert.match(String(e.review_id), /^rev_[0-9a-f]{16}$/, r.text);
    return e.review_id;
}

const reviewReceipts = (id) => receipts(gw.dir).filter((r) => predicate(r).kind === 'review' &&
                                                         predicate(r).rule === id);

test('a gated call is held: 403 with a review_id, a decision receipt, then a review receipt', async () => {
    const raw = body('TRANSFER 10 to bob');
    const r = await chat(raw, agent);
    const e = assertError(r, 403, 'APPROVAL_REQUIRED', { receipt: true });
    const decision = receiptAt(gw.dir, assertDecision(r, 'require_approval', null));
    assert.equal(predicate(decision).rule, 'transfer-needs-review');
    const [created] = reviewReceipts(e.review_id);
    assert.ok(created, 'no review receipt for the new item');
    const p = predicate(created);
    assert.equal(p.decision, 'create');
    assert.equal(p.status, 'pending');
    assert.equal(p.reason, 'REVIEW_CREATED');
    assert.equal(p.parent_leaf_hash, decision.leafHash, 'the review receipt names its decision');
    assert.equal(created.obj.subject[0].digest.sha256, sha256(raw));

    const list = await api('GET', '/api/v1/reviews?status=pending', rev1);
    assert.equal(list.status, 200, list.text);
    const item = list.json.reviews.find((x) => x.id === e.review_id);
    assert.ok(item, list.text);
    assert.equal(item.status, 'pending');
    assert.equal(item.request_sha256, sha256(raw));
    assert.equal(item.rule, 'transfer-needs-review');
    assert.equal(item.decision_receipt_id, e.receipt_id);
    assertError(await api('GET', '/api/v1/reviews', agent), 403, 'ROLE_FORBIDDEN');
    assertError(await api('GET', '/api/v1/reviews?status=bogus', rev1), 400, 'INVALID_REQUEST');
});

test('approval is bound to the request and goes through exactly once', async () => {
    const raw = body('TRANSFER 20 to carol');
    const id = await gated(raw);
    assertError(await chat(raw, agent, id), 403, 'APPROVAL_PENDING', { receipt: true });
    const v = await vote(id, 'approve', rev1);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.status, 'approved');
    assert.match(v.json.receipt_id, RECEIPT_ID_RE);
    assert.equal(v.json.votes.length, 1);
    assert.equal(v.json.votes[0].comment, 'looked at it');

    // A different body under the same review is refused and does not spend it.
    assertError(await chat(body('TRANSFER 9999 to mallory'), agent, id), 403, 'APPROVAL_MISMATCH',
                { receipt: true });
    // Another key of the org presenting it is refused too.
    assertError(await chat(raw, admin, id), 403, 'APPROVAL_MISMATCH', { receipt: true });

    const ok = await chat(raw, agent, id);
    assert.equal(ok.status, 200, ok.text);
    const d = predicate(receiptAt(gw.dir, assertDecision(ok, 'allow', null)));
    assert.equal(d.reason, 'APPROVAL_GRANTED');
    assert.equal(d.rule, 'transfer-needs-review');

    assertError(await chat(raw, agent, id), 403, 'APPROVAL_USED', { receipt: true });
    const item = await api('GET', `/api/v1/reviews/${id}`, rev2);
    assert.equal(item.json.status, 'used');
    assert.ok(item.json.used_ms > 0);
    assert.deepEqual(reviewReceipts(id).map((x) => predicate(x).decision), ['create', 'approve', 'use']);
    assertError(await vote(id, 'approve', rev2), 409, 'REVIEW_NOT_PENDING');
});

test('four eyes: the requester cannot approve its own call; a reviewer can', async () => {
    const raw = body('TRANSFER 30 to dave');
    const id = await gated(raw, admin); // the admin key may both call and review
    assertError(await vote(id, 'approve', admin), 403, 'REVIEW_SELF_APPROVAL');
    assert.equal((await api('GET', `/api/v1/reviews/${id}`, admin)).json.status, 'pending');
    assert.equal((await vote(id, 'approve', rev1)).json.status, 'approved');
    assert.equal((await chat(raw, admin, id)).status, 200);
});

test('a denied review refuses the call and takes no more votes', async () => {
    const raw = body('TRANSFER 40 to erin');
    const id = await gated(raw);
    const d = await vote(id, 'deny', rev1, 'not today');
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.status, 'denied');
    assertError(await chat(raw, agent, id), 403, 'APPROVAL_DENIED', { receipt: true });
    assertError(await vote(id, 'approve', rev2), 409, 'REVIEW_NOT_PENDING');
    const p = predicate(reviewReceipts(id).at(-1));
    assert.equal(p.decision, 'deny');
    assert.equal(p.status, 'denied');
});

test('quorum 2 needs two distinct reviewers; one key votes once', async () => {
    const raw = body('WIRE 50 to frank');
    const id = await gated(raw);
    const one = await vote(id, 'approve', rev1);
    assert.equal(one.json.status, 'pending');
    assert.equal(one.json.approvals, 1);
    assertError(await vote(id, 'approve', rev1), 409, 'REVIEW_ALREADY_VOTED');
    assertError(await chat(raw, agent, id), 403, 'APPROVAL_PENDING', { receipt: true });
    const two = await vote(id, 'approve', rev2);
    assert.equal(two.json.status, 'approved');
    assert.equal(two.json.approvals, 2);
    assert.equal((await chat(raw, agent, id)).status, 200);
});

test('expiry: a pending review expires (fail closed), as does an unused approval', async () => {
    const raw = body('QUICK 60 to grace');
    const id = await gated(raw);
    await sleep(1200);
    const g = await api('GET', `/api/v1/reviews/${id}`, rev1);
    assert.equal(g.json.status, 'expired', g.text);
    assertError(await vote(id, 'approve', rev1), 409, 'REVIEW_EXPIRED');
    assertError(await chat(raw, agent, id), 403, 'APPROVAL_EXPIRED', { receipt: true });
    const expiry = await waitFor(() => reviewReceipts(id).find((x) => predicate(x).decision === 'expire'),
                                 { what: 'expiry receipt' });
    assert.equal(predicate(expiry).status, 'expired');

    const raw2 = body('QUICK 61 to heidi');
    const id2 = await gated(raw2);
    assert.equal((await vote(id2, 'approve', rev1)).json.status, 'approved');
    await sleep(1200);
    assertError(await chat(raw2, agent, id2), 403, 'APPROVAL_EXPIRED', { receipt: true });
    const list = await api('GET', '/api/v1/reviews?status=expired', rev1);
    assert.ok(list.json.reviews.some((x) => x.id === id2), list.text);
});

test('another org\'s review id is 404 on the API and not found on the gateway', async () => {
    const raw = body('TRANSFER 70 to ivan');
    const id = await gated(raw);
    assertError(await api('GET', `/api/v1/reviews/${id}`, otherAdmin), 404, 'NOT_FOUND');
    assertError(await vote(id, 'approve', otherAdmin), 404, 'NOT_FOUND');
    assert.ok(!(await api('GET', '/api/v1/reviews', otherAdmin)).json.reviews.some((x) => x.id === id));
    assertError(await chat(raw, otherAgent, id), 403, 'APPROVAL_NOT_FOUND', { receipt: true });
    assertError(await api('GET', '/api/v1/reviews/rev_0000000000000000', rev1), 404, 'NOT_FOUND');
    assertError(await api('GET', '/api/v1/reviews/not-an-id', rev1), 404, 'NOT_FOUND');
    assert.equal((await api('GET', `/api/v1/reviews/${id}`, rev1)).json.status, 'pending');
});

test('votes need a bounded comment and nothing else', async () => {
    const id = await gated(body('TRANSFER 80 to judy'));
    const post = (json) => api('POST', `/api/v1/reviews/${id}/approve`, rev1, json);
    assertError(await post({}), 400, 'INVALID_REQUEST');
    assertError(await post({ comment: '' }), 400, 'INVALID_REQUEST');
    assertError(await post({ comment: 'x'.repeat(1001) }), 400, 'INVALID_REQUEST');
    assertError(await post({ comment: 'ok', extra: 1 }), 400, 'INVALID_REQUEST');
    assertError(await post({ comment: 'bell\u0007' }), 400, 'INVALID_REQUEST');
    const bad = await request(gw.port, {
        method: 'POST', path: `/api/v1/reviews/${id}/approve`,
        headers: { authorization: `Bearer ${rev1}`, 'content-type': 'application/json' },
        body: Buffer.concat([Buffer.from('{"comment":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    assertError(bad, 400, 'INVALID_JSON');
    assertError(await api('POST', `/api/v1/reviews/${id}/maybe`, rev1, { comment: 'x' }), 404, 'NOT_FOUND');
    assert.equal((await post({ comment: 'ünïcode is fine' })).json.status, 'approved');
});

test('signoff readiness: public-safe for every key, detailed for admins', async () => {
    const a = await api('GET', '/api/v1/signoff/readiness', agent);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.ready, true);
    assert.equal(a.json.reviewers_available, true);
    assert.equal(typeof a.json.pending, 'number');
    assert.equal(typeof a.json.oldest_pending_age_s, 'number');
    assert.equal(a.json.roles, undefined, 'role detail is for admins only');
    const d = await api('GET', '/api/v1/signoff/readiness', admin);
    const role = d.json.roles.find((x) => x.role === 'reviewer');
    assert.equal(role.quorum, 2);
    assert.ok(role.people >= 3, d.text); // people, not keys: rev1, rev2, rita and the admin's owner
    assert.equal(role.covered, true);
    assertError(await request(gw.port, { path: '/api/v1/signoff/readiness' }), 401, 'UNAUTHENTICATED');
    // The operator is outside every org: it names one.
    assertError(await api('GET', '/api/v1/signoff/readiness', gw.op), 400, 'INVALID_REQUEST');
    const op = await api('GET', `/api/v1/signoff/readiness?org_id=${gw.A.org_id}`, gw.op);
    assert.equal(op.status, 200, op.text);
    assert.equal(op.json.roles.find((x) => x.role === 'reviewer').covered, true);
    // Org B has no reviewer key beyond its owner: quorum 2 cannot be met there.
    const b = await api('GET', '/api/v1/signoff/readiness', otherAdmin);
    assert.equal(b.json.ready, false, b.text);
    assert.equal(b.json.reviewers_available, false);
    assertError(await api('GET', '/api/v1/signoff/readiness?org_id=nope', gw.op), 404, 'NOT_FOUND');
    // An org's own policy naming a role nobody holds makes that org, and only it, not ready.
    const orgPolicy = 'version: 1\nrules:\n  - id: pay\n    match: {content: PAY}\n' +
        '    effect: require_approval\n    approval: {reviewer_role: finance, quorum: 2}\n' +
        '  - id: org-chat\n    match: {route: chat}\n    effect: allow\n';
    const put = await request(gw.port, {
        method: 'PUT', path: '/api/v1/policies', body: orgPolicy,
        headers: { authorization: `Bearer ${otherAdmin}`, 'content-type': 'application/yaml' },
    });
    assert.equal(put.status, 200, put.text);
    const bo = await api('GET', '/api/v1/signoff/readiness', otherAdmin);
    const finance = bo.json.roles.find((x) => x.role === 'finance');
    assert.deepEqual(finance, { role: 'finance', quorum: 2, people: 1, keys: 1, covered: false }, bo.text);
    assert.equal((await api('GET', '/api/v1/signoff/readiness', agent)).json.ready, true);
});


test('four eyes and quorum count people: two keys of one member are one reviewer', async () => {
    const raw = body('TRANSFER 90 to kim');
    const id = await gated(raw, mem1); // requested with one of rita's keys
    assertError(await vote(id, 'approve', mem2), 403, 'REVIEW_SELF_APPROVAL');
    const wire = body('WIRE 91 to lee');
    const id2 = await gated(wire);
    assert.equal((await vote(id2, 'approve', mem1)).json.status, 'pending');
    assertError(await vote(id2, 'approve', mem2), 409, 'REVIEW_ALREADY_VOTED');
    assert.equal((await vote(id2, 'approve', rev1)).json.status, 'approved');
});

test('concurrent re-sends spend an approval once; concurrent votes apply once', async () => {
    const raw = body('TRANSFER 100 to mia');
    const id = await gated(raw);
    const votes = await Promise.all([vote(id, 'approve', rev1), vote(id, 'approve', rev2)]);
    assert.deepEqual(votes.map((v) => v.status).sort(), [200, 409], votes.map((v) => v.text).join('\n'));
    const item = await api('GET', `/api/v1/reviews/${id}`, rev1);
    assert.equal(item.json.approvals, 1, item.text);
    assert.equal(item.json.votes.length, 1);
    const sends = await Promise.all(Array.from({ length: 6 }, () => chat(raw, agent, id)));
    const ok = sends.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, sends.map((r) => r.status).join(','));
    for (const r of sends.filter((x) => x.status !== 200))
        assertError(r, 403, 'APPROVAL_USED', { receipt: true });
});


test('the org\'s evidence pack with its review receipts verifies offline', async () => {
    // The pack carries the policies its receipts name, found among the data dir's files.
    await fsp.writeFile(path.join(gw.dir, 'policy.yaml'), POLICY);
    const vkey = (await request(gw.port, { path: '/api/v1/ledger/public-key' })).text.trim();
    const x = await request(gw.port, { method: 'POST', path: '/api/v1/evidence/export',
                                       headers: { authorization: `Bearer ${admin}` } });
    assert.equal(x.status, 200, x.text);
    const pack = path.join(await scope.tmpdir('bw-it-review-pack-'), 'pack.tar');
    await fsp.writeFile(pack, x.body);
    const v = await run(['verify', '--trust', vkey, pack, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const kinds = new Set(receipts(gw.dir).map((r) => predicate(r).kind));
    assert.ok(kinds.has('review') && kinds.has('decision') && kinds.has('outcome'), [...kinds].join());
});

});

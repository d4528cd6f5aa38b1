// audit_export: GET /api/v1/audit/export (docs/API.md, docs/EVIDENCE.md "Audit export") on
// SQLite and PostgreSQL. Admin activity in two orgs (keys created, rotated, revoked; members
// added; policies put and deleted; a connection; a provider key; a two-reviewer approval; a
// billing plan change), then:
//   - org A's admin gets exactly A's admin and review receipts, each line with its receipt id;
//     ?org_id= naming org B is 403, and no cursor widens the scope; the operator sees both orgs;
//   - round trip: every line's receipt is byte for byte the same receipt in org A's evidence pack,
//     whose inclusion proof verifies (independent code: node:crypto, @noble/ed25519) against the
//     pack's signed checkpoint; the line's own inline proof verifies against the signed
//     checkpoint in the export's trailer;
//   - resuming with the cursor across limit boundaries loses and duplicates nothing, and a later
//     resume picks up only what happened since;
//   - strict query parsing; other roles 403; no secret canary in any export.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { BIN, Scope, waitFor, run, request, postJson, assertError, postWebhook, receipts, predicate } from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';
import {
    parseVkey, verifyNote, parseCheckpoint, rootFromInclusion, parseTlogProof, untar, leafHash,
} from './lib/evidence_check.mjs';

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const BILLING = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const PROVIDER_CANARY = `sk-canary${crypto.randomBytes(12).toString('hex')}`;
const POLICY = `version: 1
rules:
  - id: wire-needs-two
    match: {route: chat, content: 'WIRE'}
    effect: require_approval
    approval: {reviewer_role: reviewer, quorum: 2}
  - id: chat
    match: {route: chat}
    effect: allow
`;
const ORG_POLICY = 'version: 1\nrules:\n  - id: org-chat\n    match: {route: chat}\n    effect: allow\n';
const EXPORT = '/api/v1/audit/export';
const SANITIZED = /\/(asan|tsan)\//.test(BIN);

const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;

// One export: {status, lines, trailer, text}; the trailer (last line) is checked for shape.
async function exportAs(port, key, query = '') {
    const r = await request(port, { path: EXPORT + query, headers: key ? { authorization: `Bearer ${key}` } : {} });
    if (r.status !== 200) return { status: r.status, json: r.json, text: r.text };
    assert.equal(r.headers['content-type'], 'application/x-ndjson');
    assert.ok(r.text.endsWith('\n'), 'every line ends with a newline');
    const rows = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
    const trailer = rows.pop();
    assert.equal(typeof trailer.next_cursor, 'string', r.text.slice(-300));
    assert.equal(trailer.receipt_id, undefined);
    assert.equal(trailer.lines, rows.length);
    for (const l of rows) assert.match(l.receipt_id, /^[0-9a-f]{8}\.\d+$/);
    return { status: 200, lines: rows, trailer, text: r.text };
}

// Every page from `query` on, following next_cursor until complete: the lines in order.
async function exportPaged(port, key, query, limit) {
    const out = [];
    let cursor = null;
    for (let pages = 0; pages < 1000; pages++) {
        const q = `${query}${query ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
        const e = await exportAs(port, key, q);
        assert.equal(e.status, 200, e.text);
        assert.ok(e.lines.length <= limit);
        out.push(...e.lines);
        cursor = e.trailer.next_cursor;
        if (e.trailer.complete) return { lines: out, cursor };
    }
    throw new Error('export never completed');
}

for (const backend of ['sqlite', 'pg']) describe(`audit export (${backend})`, { skip: backend === 'pg' && !pgAvailable() && 'PostgreSQL server binaries missing' }, () => {
    const scope = new Scope();
    let w, rx, key, revs;
    const aRoutes = new Set();

    before(async () => {
        rx = await startReceiver({ secret: SECRET });
        const dir = await scope.tmpdir('bw-it-audit-');
        const policyPath = path.join(dir, 'policy.yaml');
        await fsp.writeFile(policyPath, POLICY);
        process.env.BW_TEST_AUDIT_WHSEC = BILLING;
        w = await startTenants(scope, backend, {
            yaml: `policy: ${policyPath}\n` + connectionsYaml(rx) +
                  'billing:\n  standard_secret_env: BW_TEST_AUDIT_WHSEC\nplans:\n  pro:\n    monthly_tokens: 777\n',
        });
        key = parseVkey(w.vkey);
        const ok = async (r, status = 0) => {
            if (status) assert.equal(r.status, status, r.text);
            else assert.ok(r.status >= 200 && r.status < 300, r.text);
            return r.json;
        };
        // Org A: keys, members, policy, provider key, a connection, a two-reviewer approval.
        const k = await ok(await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'member', name: 'm1' }), 201);
        await ok(await api(w.port, 'POST', `/api/v1/keys/${k.id}/rotate`, w.A.admin, { grace_s: 1 }));
        const k2 = await ok(await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', agent: 'default' }), 201);
        await ok(await api(w.port, 'POST', `/api/v1/keys/${k2.id}/revoke`, w.A.admin, {}));
        revs = [await person(w, w.A.admin, w.A.org_id, { email: 'r1@a.example', role: 'reviewer' }),
                await person(w, w.A.admin, w.A.org_id, { email: 'r2@a.example', role: 'reviewer' })];
        await ok(await request(w.port, { method: 'PUT', path: '/api/v1/policies', body: ORG_POLICY,
                                         headers: { authorization: `Bearer ${w.A.admin}`, 'content-type': 'application/yaml' } }));
        await ok(await api(w.port, 'DELETE', '/api/v1/policies', w.A.admin));
        await ok(await api(w.port, 'PUT', '/api/v1/provider-key', w.A.admin, { secret: PROVIDER_CANARY }));
        await ok(await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                           { kind: 'webhook', name: 'siem-hook', url: rx.url('/hook'), secret: SECRET }), 201);
        const raw = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'WIRE 5 to bob' }] });
        const gated = await postJson(w.port, '/v1/chat/completions', raw, { key: w.A.agent });
        const review = assertError(gated, 403, 'APPROVAL_REQUIRED', { receipt: true }).review_id;
        for (const r of revs)
            await ok(await api(w.port, 'POST', `/api/v1/reviews/${review}/approve`, r.key, { comment: 'ok' }));
        const used = await postJson(w.port, '/v1/chat/completions', raw, { key: w.A.agent, headers: { 'bulwark-approval': review } });
        assert.equal(used.status, 200, used.text);
        // A billing plan change for org A (org "default"), through the signed webhook.
        const payload = JSON.stringify({ type: 'customer.subscription.updated', created: Math.floor(Date.now() / 1000),
                                         data: { object: { metadata: { bulwark_org: 'default', bulwark_plan: 'pro' } } } });
        const id = `msg_${crypto.randomBytes(8).toString('hex')}`;
        const now = new Date();
        const b = await postWebhook(w.port, payload, { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now / 1000)),
                                                       'webhook-signature': new Webhook(BILLING).sign(id, now, payload) });
        assert.equal(b.status, 200, b.text);
        // Org B: its own admin activity.
        await ok(await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'member', name: 'b-m' }), 201);
        await ok(await api(w.port, 'POST', '/api/v1/members', w.B.owner, { email: 'b1@b.example', role: 'member' }), 201);
        await ok(await request(w.port, { method: 'PUT', path: '/api/v1/policies', body: ORG_POLICY,
                                         headers: { authorization: `Bearer ${w.B.owner}`, 'content-type': 'application/yaml' } }));
        for (const r of receipts(w.dir)) {
            const p = predicate(r);
            if (p.org_id === w.A.org_id && (p.kind === 'admin' || p.kind === 'review'))
                aRoutes.add(`${p.kind}:${p.route}:${p.decision}`);
        }
    });
    after(async () => {
        await w?.stop();
        await rx?.close();
        await scope.cleanup();
    });

    test("org A's admin gets exactly A's admin and review receipts", async () => {
        const e = await exportAs(w.port, w.A.admin);
        assert.equal(e.status, 200);
        const want = receipts(w.dir).filter((r) => {
            const p = predicate(r);
            return p.org_id === w.A.org_id && (p.kind === 'admin' || p.kind === 'review');
        });
        assert.deepEqual(e.lines.map((l) => l.seq), want.map((r) => predicate(r).log.index));
        for (const l of e.lines) {
            assert.equal(l.org_id, w.A.org_id);
            assert.ok(['admin', 'review'].includes(l.kind));
            assert.equal(l.receipt_id, `${key.keyid.toString('hex')}.${l.seq}`);
            assert.equal(new Date(l.time).getTime(), l.time_ms);
            const p = JSON.parse(l.receipt).predicate;
            assert.equal(p.route, l.route);
            assert.equal(p.principal, l.actor);
            assert.equal(p.reason, l.reason_code);
        }
        const routes = new Set(e.lines.map((l) => `${l.kind}:${l.route}:${l.decision}`));
        for (const r of ['admin:key.create:apply', 'admin:key.rotate:apply', 'admin:key.revoke:apply',
                         'admin:member.add:apply', 'admin:policy.put:apply', 'admin:policy.delete:apply',
                         'admin:provider_key.set:apply', 'admin:connection.create:apply',
                         'admin:customer.subscription.updated:apply', 'review:chat:create',
                         'review:chat:approve', 'review:chat:use'])
            assert.ok(routes.has(r), `${r} missing; got ${[...routes].join(' ')}`);
        assert.deepEqual(routes, aRoutes);
        const votes = e.lines.filter((l) => l.kind === 'review' && l.decision === 'approve');
        assert.deepEqual(new Set(votes.map((l) => l.actor)), new Set(revs.map((r) => r.id)), 'both reviewers');
        // actor_member: the person behind each key (two reviewers are two people), "operator"
        // for the operator's keys, absent for a webhook.
        assert.deepEqual(votes.map((l) => l.actor_member).sort(), revs.map((r) => r.member_id).sort());
        const me = (await api(w.port, 'GET', '/api/v1/me', w.A.admin)).json;
        const mine = e.lines.filter((x) => x.actor === me.key_id);
        assert.ok(mine.length >= 5, 'the admin key made most changes');
        for (const l of mine) assert.equal(l.actor_member, me.principal, JSON.stringify(l).slice(0, 200));
        const issued = e.lines.filter((l) => l.route === 'key.create' && l.actor_member === 'operator');
        assert.ok(issued.length >= 2, 'the operator issued the reviewers their keys');
        assert.equal(e.lines.find((l) => l.route === 'customer.subscription.updated').actor_member, undefined);
        assert.equal(e.lines.find((l) => l.route === 'customer.subscription.updated').status, 'pro');
        assert.ok(!e.text.includes(w.B.org_id), "org B's id in org A's export");
        assert.equal(e.trailer.complete, true);
    });

    test('no secret in any export', async () => {
        for (const k of [w.A.admin, w.op]) {
            const e = await exportAs(w.port, k);
            for (const secret of [PROVIDER_CANARY, SECRET, SECRET.slice(6, 30), BILLING.slice(6, 30), w.A.admin,
                                  w.A.agent, w.B.owner, w.op, revs[0].key, 'WIRE 5 to bob'])
                assert.ok(!e.text.includes(secret), `a secret or prompt in the export: ${secret.slice(0, 12)}...`);
        }
    });

    test('a hostile admin gets nothing of another org: ?org_id= is 403, a cursor does not widen', async () => {
        const e = await exportAs(w.port, w.A.admin, `?org_id=${w.B.org_id}`);
        assert.equal(e.status, 403, e.text);
        assert.equal(e.json.error.code, 'ROLE_FORBIDDEN');
        assert.equal((await exportAs(w.port, w.A.admin, `?org_id=${w.A.org_id}`)).status, 200);
        const ops = await exportAs(w.port, w.op);
        const bLine = ops.lines.find((l) => l.org_id === w.B.org_id);
        assert.ok(bLine, 'the operator sees org B');
        // A cursor taken from the operator's export, pointing right at B's receipt.
        const at = `c1.${key.keyid.toString('hex')}.${bLine.seq}`;
        const e2 = await exportAs(w.port, w.A.admin, `?cursor=${at}`);
        assert.equal(e2.status, 200);
        assert.ok(e2.lines.every((l) => l.org_id === w.A.org_id && l.seq >= bLine.seq));
        assert.ok(!e2.text.includes(w.B.org_id));
        // B's owner sees B only.
        const b = await exportAs(w.port, w.B.owner);
        assert.ok(b.lines.length >= 3 && b.lines.every((l) => l.org_id === w.B.org_id));
    });

    test('the operator sees every org, or one with ?org_id=', async () => {
        const all = await exportAs(w.port, w.op);
        const orgs = new Set(all.lines.map((l) => l.org_id));
        assert.ok(orgs.has(w.A.org_id) && orgs.has(w.B.org_id));
        const onlyB = await exportAs(w.port, w.op, `?org_id=${w.B.org_id}`);
        assert.deepEqual(onlyB.lines.map((l) => l.seq),
                         all.lines.filter((l) => l.org_id === w.B.org_id).map((l) => l.seq));
    });

    test('other roles and no key are refused', async () => {
        assert.equal((await exportAs(w.port, null)).status, 401);
        for (const k of [w.A.agent, revs[0].key]) {
            const e = await exportAs(w.port, k);
            assert.equal(e.status, 403, e.text);
            assert.equal(e.json.error.code, 'ROLE_FORBIDDEN');
        }
    });

    test('every line round-trips against an evidence pack', async () => {
        const e = await exportAs(w.port, w.A.admin);
        // The export's own proofs: against the signed checkpoint in its trailer.
        const head = parseCheckpoint(await verifyNote(e.trailer.checkpoint, key), key);
        assert.equal(head.size, e.trailer.tree_size);
        for (const l of e.lines) {
            assert.equal(leafHash(Buffer.from(l.receipt, 'latin1')).toString('hex'), l.leaf_hash);
            assert.equal(l.proof.log_index, l.seq);
            assert.equal(l.proof.tree_size, head.size);
            assert.equal(l.proof.root_hash, head.root.toString('base64'));
            const root = rootFromInclusion(l.seq, head.size, Buffer.from(l.leaf_hash, 'hex'),
                                           l.proof.hashes.map((h) => Buffer.from(h, 'base64')));
            assert.ok(root.equals(head.root), `${l.receipt_id}: inline proof`);
        }
        // The pack: the same receipt bytes, proven against the pack's own signed checkpoint.
        const r = await request(w.port, { method: 'POST', path: '/api/v1/evidence/export',
                                          headers: { authorization: `Bearer ${w.A.admin}` } });
        assert.equal(r.status, 200, r.text);
        // The whole pack verifies with `bulwark verify` too. A tenant's pack lacks one policy
        // text by design: the billing webhook's receipt names the operator's config, which a
        // tenant's pack never carries (EVIDENCE.md 9.2).
        const packFile = path.join(await scope.tmpdir('bw-it-audit-pack-'), 'pack.tar');
        await fsp.writeFile(packFile, r.body);
        const v = await run(['verify', '--trust', w.vkey, packFile, '--json', '--allow-missing-policies']);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.equal(JSON.parse(v.stdout).missing_policy_count, 1);
        const byName = new Map(untar(r.body).map((m) => [m.name, m.data]));
        const cps = [...byName.keys()].filter((n) => n.startsWith('checkpoints/'));
        const finalNote = byName.get(cps.at(-1));
        const fin = parseCheckpoint(await verifyNote(finalNote, key), key);
        assert.ok(fin.size >= head.size);
        for (const l of e.lines) {
            const i = String(l.seq).padStart(20, '0');
            const bytes = byName.get(`receipts/${i}.json`);
            assert.ok(bytes, `${l.receipt_id} is not in the pack`);
            assert.equal(bytes.toString('latin1'), l.receipt, `${l.receipt_id}: other bytes in the pack`);
            const pr = parseTlogProof(byName.get(`proofs/${i}.tlog-proof`).toString('utf8'));
            assert.equal(pr.index, l.seq);
            assert.equal(pr.note, finalNote.toString('utf8'));
            assert.ok(rootFromInclusion(l.seq, fin.size, leafHash(bytes), pr.hashes).equals(fin.root),
                      `${l.receipt_id}: the pack's inclusion proof`);
        }
    });

    test('resuming with the cursor across limits loses and duplicates nothing', async () => {
        const full = await exportAs(w.port, w.A.admin);
        for (const limit of [1, 3, 7]) {
            const paged = await exportPaged(w.port, w.A.admin, '', limit);
            assert.deepEqual(paged.lines.map((l) => l.receipt_id), full.lines.map((l) => l.receipt_id));
        }
        // A short page: the cursor continues exactly after its last line (also its own cursor).
        const first = await exportAs(w.port, w.A.admin, '?limit=2');
        assert.equal(first.trailer.complete, false);
        assert.equal(first.trailer.next_cursor, first.lines[1].cursor);
        const rest = await exportAs(w.port, w.A.admin, `?cursor=${first.lines[1].cursor}`);
        assert.deepEqual([...first.lines, ...rest.lines].map((l) => l.seq), full.lines.map((l) => l.seq));
        // Polling: a finished export's cursor returns only what happened since.
        const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'member', name: 'later' });
        assert.equal(k.status, 201);
        const later = await exportAs(w.port, w.A.admin, `?cursor=${full.trailer.next_cursor}`);
        assert.deepEqual(later.lines.map((l) => [l.route, l.receipt_id]),
                         [['key.create', k.headers['bulwark-receipt-id']]]);
    });

    test('from and to select a time window (unix ms or RFC 3339)', async () => {
        const full = await exportAs(w.port, w.A.admin);
        const mid = full.lines[Math.floor(full.lines.length / 2)].time_ms;
        const before = await exportAs(w.port, w.A.admin, `?to=${mid}`);
        const after_ = await exportAs(w.port, w.A.admin, `?from=${new Date(mid).toISOString()}`);
        assert.ok(before.lines.every((l) => l.time_ms < mid) && after_.lines.every((l) => l.time_ms >= mid));
        assert.equal(before.lines.length + after_.lines.length, full.lines.length);
        const offset = new Date(mid + 3600000).toISOString().replace('Z', '+01:00');
        assert.deepEqual((await exportAs(w.port, w.A.admin, `?from=${encodeURIComponent(offset)}`)).lines, after_.lines);
        assert.equal((await exportAs(w.port, w.A.admin, `?from=${mid}&to=${mid}`)).lines.length, 0);
    });

    test('strict query parsing', async () => {
        const other = `c1.00000000.0`;
        for (const q of ['?from=yesterday', '?from=2026-02-30T00:00:00Z', '?from=2026-01-01T00:00:00',
                         '?from=-5', '?from=1e3', '?to=9007199254740992', '?from=10&to=5', '?limit=0',
                         '?limit=10001', '?limit=01', '?limit=abc', '?bogus=1', '?from=1&from=2',
                         '?cursor=', '?cursor=garbage', `?cursor=${other}`, '?cursor=c1.zz.1',
                         `?cursor=c1.${key.keyid.toString('hex')}.999999999`,
                         `?cursor=c1.${key.keyid.toString('hex')}.01`, '?org_id=a%20b', '?from=1%00junk',
                         `?org_id=${w.A.org_id}%00`, '?from=2026-01-01T00:00:00+01:00']) {
            const e = await exportAs(w.port, w.op, q);
            assert.equal(e.status, 400, `${q}: ${e.text}`);
            assert.equal(e.json.error.code, 'INVALID_REQUEST');
        }
    });
});

// The gateway's resident memory (kB) from /proc.
const rssKb = async (pid) => Number((await fsp.readFile(`/proc/${pid}/status`, 'utf8')).match(/VmRSS:\s+(\d+)/)[1]);

// Starts an export and stops reading it once the first bytes arrived: {req, res, got()}.
function pausedExport(port, key, query = '') {
    return new Promise((resolve, reject) => {
        let got = 0;
        const req = http.get({ host: '127.0.0.1', port, path: EXPORT + query, agent: false,
                               headers: { authorization: `Bearer ${key}` } }, (res) => {
            res.once('data', (d) => {
                got += d.length;
                res.pause();
                resolve({ req, res, got: () => got });
            });
            res.on('data', (d) => { got += d.length; });
        });
        req.on('error', reject);
    });
}

describe('audit export of a large log to a slow reader', () => {
    const scope = new Scope();
    let w;
    const N = Number(process.env.BW_AUDIT_LINES || 5000);
    before(async () => {
        w = await startTenants(scope, 'sqlite');
        // N admin receipts (members added), 32 at a time.
        let next = 0;
        const worker = async () => {
            while (next < N) {
                const i = next++;
                const r = await api(w.port, 'POST', '/api/v1/members', w.A.admin, { email: `m${i}@a.example`, role: 'member' });
                assert.equal(r.status, 201, r.text);
            }
        };
        await Promise.all(Array.from({ length: 32 }, worker));
    });
    after(async () => {
        await w?.stop();
        await scope.cleanup();
    });

    test('a paused client does not grow the gateway: one chunk in memory, not the export', async (t) => {
        const full = await exportAs(w.port, w.A.admin, '?limit=10000');
        assert.ok(full.lines.length >= N);
        const size = full.text.length;
        assert.ok(size > 6 << 20, `the export is ${size} bytes: too small to tell`);
        const base = await rssKb(w.proc.pid);
        const paused = [];
        for (let i = 0; i < 3; i++) paused.push(await pausedExport(w.port, w.A.admin, '?limit=10000'));
        await new Promise((r) => setTimeout(r, 1500));
        const grown = (await rssKb(w.proc.pid)) - base;
        t.diagnostic(`export ${size >> 10} kB; RSS grew ${grown} kB with 3 paused exports; delivered ${paused.map((p) => p.got() >> 10).join(', ')} kB`);
        // Unbounded, each paused export would hold what the kernel has not taken (most of it).
        // (Not under a sanitizer: its allocator keeps freed memory in quarantine.)
        if (!SANITIZED) assert.ok(grown < 3 * (size >> 10) / 4, `RSS grew by ${grown} kB for 3 paused exports of ${size >> 10} kB`);
        for (const p of paused) assert.ok(p.got() < size, 'the whole export was delivered to a paused reader');
        // The gateway keeps serving while they wait; a client that leaves mid-export is cleaned up.
        assert.equal((await exportAs(w.port, w.A.admin, '?limit=5')).lines.length, 5);
        for (const p of paused) p.req.destroy();
        await new Promise((r) => setTimeout(r, 300));
        const again = await exportAs(w.port, w.A.admin, '?limit=10000');
        assert.equal(again.lines.length, full.lines.length);
        // Resumed after a cut: every line carries the cursor that continues after it.
        const cut = full.lines[Math.floor(full.lines.length / 3)];
        const rest = await exportAs(w.port, w.A.admin, `?limit=10000&cursor=${cut.cursor}`);
        assert.equal(rest.lines[0].seq > cut.seq, true);
        assert.deepEqual(rest.lines.map((l) => l.seq), full.lines.filter((l) => l.seq > cut.seq).map((l) => l.seq));
        // At most 8 exports stream at once (gateway-wide); a slot comes back when a client leaves.
        const eight = [];
        for (let i = 0; i < 8; i++) eight.push(await pausedExport(w.port, w.A.admin, '?limit=10000'));
        const busy = await exportAs(w.port, w.A.admin, '?limit=1');
        assert.equal(busy.status, 503, busy.text);
        assert.equal(busy.json.error.code, 'EXPORTS_BUSY');
        for (const p of eight) p.req.destroy();
        await waitFor(async () => (await exportAs(w.port, w.A.admin, '?limit=1')).status === 200,
                      { what: 'an export slot after the clients left' });
        // One export is left paused: the gateway must still stop cleanly (after(): SIGTERM; under
        // a sanitizer, no leak of the export's state).
        await pausedExport(w.port, w.A.admin, '?limit=10000');
    });
});

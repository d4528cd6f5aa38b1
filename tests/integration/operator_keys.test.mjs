// operator_keys: operator keys (they list, create and delete orgs) have the lifecycle of org keys
// (issue 12, item 5; docs/ACCESS.md "Operator keys"): listed with their last use, created with an
// expiry, rotated with a grace period, revoked at once; every change an admin receipt; the last
// live one cannot be revoked over the API (an operator cannot lock themselves out by accident),
// while the CLI on the host can always list, rotate and revoke them. SQLite and PostgreSQL (the
// runtime role reaches them only through definer functions).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Scope, assertError, receipts, predicate, run, sleep } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

for (const backend of ['sqlite', 'pg']) describe(`operator keys on ${backend}`, () => {
    const scope = new Scope();
    let w, port;
    const me = (key) => api(port, 'GET', '/api/v1/me', key);
    const list = async (key, q = '') => {
        const r = await api(port, 'GET', `/api/v1/operator/keys${q}`, key);
        assert.equal(r.status, 200, r.text);
        return r.json.data;
    };

    before(async () => { w = await startTenants(scope, backend); port = w.port; });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test('only an operator reaches them; listing shows last use, never a secret', async () => {
        for (const k of [w.A.admin, w.A.agent, w.B.owner]) {
            assertError(await api(port, 'GET', '/api/v1/operator/keys', k), 403, 'ROLE_FORBIDDEN');
            assertError(await api(port, 'POST', '/api/v1/operator/keys', k, {}), 403, 'ROLE_FORBIDDEN');
        }
        assertError(await api(port, 'GET', '/api/v1/operator/keys'), 401, 'UNAUTHENTICATED');
        assert.equal((await me(w.op)).status, 200);
        const keys = await list(w.op);
        const ops = keys.find((k) => k.name === 'ops');
        assert.ok(ops, JSON.stringify(keys));
        assert.equal(ops.role, 'operator');
        assert.equal(ops.status, 'active');
        assert.ok(ops.last_used_ms > 0, 'last use recorded');
        assert.equal(ops.key, undefined);
        assert.equal(ops.hash, undefined);
        assert.ok(!JSON.stringify(keys).includes(w.op.slice(4, 20)));
        assert.ok(!keys.some((k) => k.role !== 'operator'), 'no org key in the operator list');
        const one = await api(port, 'GET', `/api/v1/operator/keys/${ops.id}`, w.op);
        assert.equal(one.json.id, ops.id);
    });

    test('create with expiry; rotate with grace; revoke at once; each an admin receipt', async () => {
        const short = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: 'short', expires_in_s: 1 });
        assert.equal(short.status, 201, short.text);
        assert.match(short.json.key, /^bwk_[A-Za-z0-9_-]{43}$/);
        assert.equal((await api(port, 'GET', '/api/v1/orgs', short.json.key)).status, 200);
        await sleep(1300);
        assert.equal((await me(short.json.key)).status, 401, 'expired');
        assert.equal((await list(w.op, '?include_revoked=1')).find((k) => k.id === short.json.id).status, 'expired');

        const k = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: 'ops2' });
        assert.equal(k.status, 201, k.text);
        const rot = await api(port, 'POST', `/api/v1/operator/keys/${k.json.id}/rotate`, w.op, { grace_s: 1 });
        assert.equal(rot.status, 201, rot.text);
        assert.equal(rot.json.replaces, k.json.id);
        assert.equal(rot.json.name, 'ops2');
        assert.equal((await me(k.json.key)).status, 200, 'the old key works during grace');
        assert.equal((await me(rot.json.key)).status, 200);
        assert.equal((await list(w.op)).find((x) => x.id === k.json.id).status, 'rotating');
        assertError(await api(port, 'POST', `/api/v1/operator/keys/${k.json.id}/rotate`, w.op, {}), 409, 'CONFLICT');
        await sleep(1300);
        assert.equal((await me(k.json.key)).status, 401, 'dead after the grace period');

        const rev = await api(port, 'POST', `/api/v1/operator/keys/${rot.json.id}/revoke`, w.op, {});
        assert.equal(rev.status, 200, rev.text);
        assert.equal(rev.json.status, 'revoked');
        assert.equal((await me(rot.json.key)).status, 401, 'revoked from the reply on');
        assert.equal((await api(port, 'GET', '/api/v1/orgs', rot.json.key)).status, 401);
        assertError(await api(port, 'POST', `/api/v1/operator/keys/${rot.json.id}/revoke`, w.op, {}), 409, 'CONFLICT');
        assertError(await api(port, 'POST', '/api/v1/operator/keys/key_0123456789abcdef/revoke', w.op, {}),
                    404, 'NOT_FOUND');

        const admin = receipts(w.dir).map(predicate).filter((p) => p.kind === 'admin' && !p.org_id);
        for (const [route, rule] of [['key.create', k.json.id], ['key.rotate', `${k.json.id}>${rot.json.id}`],
                                     ['key.revoke', rot.json.id]])
            assert.ok(admin.some((p) => p.route === route && p.rule === rule), `${route} receipt`);
        assert.equal(admin.find((p) => p.route === 'key.rotate' && p.rule.startsWith(k.json.id)).duration_ms, 1000);
        assert.ok(!JSON.stringify(receipts(w.dir).map((r) => r.obj)).includes(rot.json.key), 'no secret in receipts');
    });

    test('no key outlives the key that made it: an expiring or rotated-away key cannot mint a lasting one', async () => {
        const end = (k) => k.expires_ms;
        const short = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: 'leaked', expires_in_s: 60 });
        assert.equal(short.status, 201, short.text);
        // an operator key it makes, with no expiry or a longer one, ends when it ends
        for (const b of [{ name: 'forever' }, { name: 'longer', expires_in_s: 3600 }]) {
            const m = await api(port, 'POST', '/api/v1/operator/keys', short.json.key, b);
            assert.equal(m.status, 201, m.text);
            assert.ok(end(m.json) > 0 && end(m.json) <= end(short.json), `${b.name}: ${m.text}`);
        }
        // so does an org it creates (its first owner key) and a member key it issues
        const org = await api(port, 'POST', '/api/v1/orgs', short.json.key, { name: `exp-${backend}` });
        assert.equal(org.status, 201, org.text);
        const owner = await api(port, 'GET', '/api/v1/me', org.json.owner_key.key);
        assert.ok(owner.json.expires_ms > 0 && owner.json.expires_ms <= end(short.json), owner.text);
        const issued = await api(port, 'POST', `/api/v1/orgs/${org.json.id}/keys`, short.json.key,
                                 { member_id: org.json.owner_member_id, role: 'admin' });
        assert.equal(issued.status, 201, issued.text);
        assert.ok(end(issued.json) > 0 && end(issued.json) <= end(short.json), issued.text);
        // an org key too; a key in its rotation grace ends with its grace
        const rot = await api(port, 'POST', `/api/v1/keys/${owner.json.key_id}/rotate`, org.json.owner_key.key, { grace_s: 30 });
        assert.equal(rot.status, 201, rot.text);
        const minted = await api(port, 'POST', '/api/v1/keys', org.json.owner_key.key, { role: 'admin' });
        assert.equal(minted.status, 201, minted.text);
        assert.ok(end(minted.json) > 0 && end(minted.json) <= rot.json.grace_until_ms, minted.text);
        // a key without expiry makes keys without expiry
        const free = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: 'free' });
        assert.equal(free.json.expires_ms, 0, free.text);
    });

    test('the last live operator key cannot be revoked over the API', async () => {
        const live = (await list(w.op)).filter((k) => k.status === 'active' || k.status === 'rotating');
        const mine = live.find((k) => k.name === 'ops');
        for (const k of live)
            if (k.id !== mine.id)
                assert.equal((await api(port, 'POST', `/api/v1/operator/keys/${k.id}/revoke`, w.op, {})).status, 200);
        assertError(await api(port, 'POST', `/api/v1/operator/keys/${mine.id}/revoke`, w.op, {}), 409, 'CONFLICT');
        assert.equal((await me(w.op)).status, 200);
        // two live keys revoking each other at once: one of them always remains
        for (let round = 0; round < 5; round++) {
            const x = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: `race-${round}` });
            assert.equal(x.status, 201, x.text);
            // from here on only mine and x are live: revoke each with the other, concurrently
            const [a, b] = await Promise.all([
                api(port, 'POST', `/api/v1/operator/keys/${x.json.id}/revoke`, w.op, {}),
                api(port, 'POST', `/api/v1/operator/keys/${mine.id}/revoke`, x.json.key, {}),
            ]);
            const ok = [a, b].filter((r) => r.status === 200);
            assert.equal(ok.length, 1, `${a.status} ${a.text} / ${b.status} ${b.text}`);
            const left = (await list(b.status === 200 ? x.json.key : w.op))
                .filter((k) => k.status === 'active');
            assert.equal(left.length, 1, JSON.stringify(left));
            if (b.status === 200) { // mine was revoked: x carries on, as the operator's key
                w.op = x.json.key;
                Object.assign(mine, left[0]);
            }
        }
        // with a second one it can: then the new one is the operator's key
        const next = await api(port, 'POST', '/api/v1/operator/keys', w.op, { name: 'next' });
        assert.equal((await api(port, 'POST', `/api/v1/operator/keys/${mine.id}/revoke`, next.json.key, {})).status, 200);
        assert.equal((await me(w.op)).status, 401);
        w.op = next.json.key;
    });

    test('the CLI on the host lists, rotates and revokes them (even the last one)', async () => {
        await w.proc.stop(3000);
        const db = w.database ? ['--database', w.database] : [];
        const cli = async (args) => {
            const r = await run(['key', ...args, '--data', w.dir, ...db]);
            assert.equal(r.code, 0, r.stderr);
            return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
        };
        const listed = await cli(['list', '--operator']);
        const next = listed.find((k) => k.name === 'next');
        assert.ok(next && next.last_used_ms > 0, JSON.stringify(listed));
        const [rot] = await cli(['rotate', '--operator', '--grace-s', '0', next.id]);
        assert.equal(rot.replaces, next.id);
        const [made] = await cli(['create', '--operator', '--name', 'cli-made', '--expires-in-s', '3600']);
        assert.ok(made.expires_ms > Date.now());
        const [gone] = await cli(['revoke', '--operator', made.id]);
        assert.equal(gone.revoked, true);
        // the last live one too: the host can always make another
        await cli(['revoke', '--operator', rot.id]);
        const after = await cli(['list', '--operator']);
        assert.ok(after.every((k) => k.revoked_ms > 0 || (k.expires_ms && k.expires_ms <= Date.now())),
                  JSON.stringify(after));
        const [fresh] = await cli(['create', '--operator', '--name', 'fresh']);
        const bad = await run(['key', 'rotate', '--data', w.dir, ...db, '--operator', 'key_0123456789abcdef']);
        assert.notEqual(bad.code, 0);

        const configPath = path.join(w.dir, 'test-config.yaml');
        const proc = scope.spawn(['serve', '--data', w.dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                                 { name: `serve again (${backend})` });
        const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
        port = Number(m[1]);
        w.proc = proc;
        assert.equal((await me(w.op)).status, 401, 'rotated with no grace');
        assert.equal((await me(rot.key)).status, 401, 'revoked by the CLI');
        assert.equal((await me(made.key)).status, 401);
        assert.equal((await api(port, 'GET', '/api/v1/orgs', fresh.key)).status, 200);
        const admin = receipts(w.dir).map(predicate).filter((p) => p.kind === 'admin' && p.principal === 'cli');
        assert.ok(admin.some((p) => p.route === 'key.rotate' && p.rule === `${next.id}>${rot.id}`));
        assert.ok(admin.some((p) => p.route === 'key.revoke' && p.rule === rot.id));
    });
});

// keys_lifecycle: API keys through the real HTTP interface: create (secret shown once, never
// listed), rotation with a grace period during which both keys work, expiry, revocation that
// holds from the moment the reply is sent (also under concurrent use), last-used time, and an
// admin receipt for every change.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sleep, receipts, predicate, postJson, chatBody, waitFor } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

for (const backend of ['sqlite', 'pg']) {
    describe(`API keys on ${backend}`, () => {
        const scope = new Scope();
        let w;
        const me = (key) => api(w.port, 'GET', '/api/v1/me', key);

        before(async () => { w = await startTenants(scope, backend); });
        after(async () => { await w?.stop(); await scope.cleanup(); });

        test('a new key is shown once; listings never show a secret or a hash', async () => {
            const r = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'reviewer', name: 'r1' });
            assert.equal(r.status, 201, r.text);
            assert.match(r.json.key, /^bwk_[A-Za-z0-9_-]{43}$/);
            assert.match(r.json.receipt_id, /^[0-9a-f]{8}\.\d+$/);
            assert.equal(r.headers['bulwark-receipt-id'], r.json.receipt_id);
            const list = await api(w.port, 'GET', '/api/v1/keys', w.A.admin);
            assert.ok(!list.text.includes(r.json.key), 'the secret is never listed');
            assert.ok(!list.text.includes(r.json.key.slice(4, 20)));
            for (const k of list.json.data) {
                assert.equal(k.key, undefined);
                assert.equal(k.hash, undefined);
            }
            const one = await api(w.port, 'GET', `/api/v1/keys/${r.json.id}`, w.A.admin);
            assert.equal(one.json.role, 'reviewer');
            assert.equal(one.json.key, undefined);
            assert.equal((await me(r.json.key)).json.role, 'reviewer');
        });

        test('validation: unknown role, bad types, unknown agent or member', async () => {
            for (const body of [{}, { role: 'root' }, { role: 5 }, { role: 'agent', agent: 'nope' },
                                { role: 'agent', expires_in_s: 0 }, { role: 'agent', expires_in_s: 'soon' }]) {
                const r = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, body);
                assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(body)}: ${r.status}`);
            }
            // A key belongs to its creator's person: naming another member is refused.
            const r = await api(w.port, 'POST', '/api/v1/keys', w.A.admin,
                                { role: 'agent', member_id: 'mem_0123456789abcdef' });
            assert.equal(r.status, 403, r.text);
            assert.equal(r.json.error.code, 'ROLE_FORBIDDEN');
        });

        test('rotation: both keys work during the grace period, then only the new one', async () => {
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'member', name: 'rot' });
            const rot = await api(w.port, 'POST', `/api/v1/keys/${k.json.id}/rotate`, w.A.admin, { grace_s: 2 });
            assert.equal(rot.status, 201, rot.text);
            assert.equal(rot.json.replaces, k.json.id);
            assert.equal(rot.json.role, 'member');
            assert.equal(rot.json.name, 'rot');
            assert.equal((await me(k.json.key)).status, 200, 'old key works during grace');
            assert.equal((await me(rot.json.key)).status, 200);
            const old = await api(w.port, 'GET', `/api/v1/keys/${k.json.id}`, w.A.admin);
            assert.equal(old.json.status, 'rotating');
            assert.equal(old.json.rotated_to, rot.json.id);
            const again = await api(w.port, 'POST', `/api/v1/keys/${k.json.id}/rotate`, w.A.admin, {});
            assert.equal(again.status, 409, 'a key rotates once');
            await sleep(2300);
            assert.equal((await me(k.json.key)).status, 401, 'old key dead after grace');
            assert.equal((await me(rot.json.key)).status, 200);
            const rec = receipts(w.dir).map(predicate).find((p) => p.route === 'key.rotate');
            assert.ok(rec, 'rotation receipt');
            assert.equal(rec.kind, 'admin');
            assert.equal(rec.rule, `${k.json.id}>${rot.json.id}`);
            assert.equal(rec.duration_ms, 2000, 'grace period recorded');
        });

        test('expiry: a key with expires_in_s stops working', async () => {
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', expires_in_s: 1 });
            assert.equal(k.status, 201);
            assert.equal((await me(k.json.key)).status, 200);
            await sleep(1300);
            assert.equal((await me(k.json.key)).status, 401);
            const s = await api(w.port, 'GET', `/api/v1/keys/${k.json.id}`, w.A.admin);
            assert.equal(s.json.status, 'expired');
        });

        test('revocation holds from the moment the reply is sent, even under concurrent use', async () => {
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', agent: 'default' });
            let revokedAt = 0;
            const late = [];
            let stop = false, before = 0;
            const hammer = async () => {
                while (!stop) {
                    const sent = Date.now();
                    const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: k.json.key });
                    if (!revokedAt && r.status === 200) before++;
                    if (revokedAt && sent > revokedAt && r.status === 200) late.push(sent - revokedAt);
                }
            };
            const workers = [hammer(), hammer(), hammer(), hammer()];
            await sleep(150);
            const rev = await api(w.port, 'POST', `/api/v1/keys/${k.json.id}/revoke`, w.A.admin, {});
            revokedAt = Date.now();
            assert.equal(rev.status, 200, rev.text);
            assert.equal(rev.json.status, 'revoked');
            await sleep(300);
            stop = true;
            await Promise.all(workers);
            assert.ok(before > 0, 'the key worked while it was live');
            assert.deepEqual(late, [], 'no call sent after the revoke returned may succeed');
            assert.equal((await me(k.json.key)).status, 401);
            const twice = await api(w.port, 'POST', `/api/v1/keys/${k.json.id}/revoke`, w.A.admin, {});
            assert.equal(twice.status, 409);
        });

        test('last use is recorded; every key change left an admin receipt', async () => {
            const k = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'member' });
            assert.equal((await me(k.json.key)).status, 200);
            const s = await api(w.port, 'GET', `/api/v1/keys/${k.json.id}`, w.A.admin);
            assert.ok(s.json.last_used_ms > 0);
            // model calls count too (recorded with the call's usage row, off the event loop)
            const agentKey = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', agent: 'default' });
            const call = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: agentKey.json.key });
            assert.equal(call.status, 200);
            await waitFor(async () => (await api(w.port, 'GET', `/api/v1/keys/${agentKey.json.id}`, w.A.admin))
                .json.last_used_ms > 0, { what: 'last use after a model call' });
            const routes = receipts(w.dir).map(predicate).filter((p) => p.kind === 'admin').map((p) => p.route);
            for (const r of ['key.create', 'key.rotate', 'key.revoke'])
                assert.ok(routes.includes(r), `${r} receipt`);
            const create = receipts(w.dir).map(predicate).find((p) => p.route === 'key.create' && p.rule === k.json.id);
            assert.equal(create.org_id, w.A.org_id);
            assert.equal(create.decision, 'apply');
            assert.ok(!JSON.stringify(receipts(w.dir).map((r) => r.obj)).includes(k.json.key), 'no secret in receipts');
        });
    });
}

// access_matrix: docs/ACCESS.md's role matrix, walked cell by cell against a running gateway.
// The test reads the table from the document, so the document and the code cannot disagree:
// for every (endpoint, role), "yes" must never be 401/403 ROLE_FORBIDDEN and "no" must be 403
// ROLE_FORBIDDEN, on SQLite and on PostgreSQL. Ids in paths are well-formed but unknown, so allowed calls end in 404 or a
// validation error and nothing is changed by the walk.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, Scope } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

for (const backend of ['sqlite', 'pg']) {
    describe(`the access matrix on ${backend}`, () => {
        const scope = new Scope();
        let w;
        const keys = {};

        function matrix() {
            const text = fs.readFileSync(path.join(REPO, 'docs/ACCESS.md'), 'utf8');
            const rows = text.split('\n').filter((l) => /^\| (GET|POST|PATCH|DELETE|PUT) \|/.test(l));
            return rows.map((l) => {
                const c = l.split('|').slice(1, -1).map((s) => s.trim());
                const [method, p, owner, admin, reviewer, member, agent, operator] = c;
                return { method, path: p, allow: { owner, admin, reviewer, member, agent, operator } };
            });
        }

        before(async () => {
            w = await startTenants(scope, backend);
            keys.owner = w.B.owner;
            keys.operator = w.op;
            for (const role of ['admin', 'reviewer', 'member', 'agent']) {
                const body = { role, name: `matrix ${role}` };
                if (role === 'agent') {
                    const a = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'matrix-bot' });
                    assert.equal(a.status, 201, a.text);
                    body.agent = 'matrix-bot';
                }
                const r = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, body);
                assert.equal(r.status, 201, r.text);
                keys[role] = r.json.key;
            }
        });

        after(async () => { await w?.stop(); await scope.cleanup(); });

        test('docs/ACCESS.md has the matrix this test walks', () => {
            const m = matrix();
            assert.ok(m.length >= 25, `only ${m.length} rows found`);
            for (const row of m)
                for (const [role, v] of Object.entries(row.allow))
                    assert.ok(v === 'yes' || v === 'no', `${row.method} ${row.path} ${role}: '${v}'`);
        });

        test('every cell of the matrix holds', async () => {
            const unknownId = 'zzz_0123456789abcdef';
            const failures = [];
            for (const row of matrix()) {
                const p = row.path.replace(/\{[a-z_]+\}/g, unknownId); // every {placeholder}
                for (const [role, allowed] of Object.entries(row.allow)) {
                    const r = await api(w.port, row.method, p, keys[role], row.method === 'GET' ? undefined : {});
                    const forbidden = r.status === 403 && r.json?.error?.code === 'ROLE_FORBIDDEN';
                    if (allowed === 'yes' && (r.status === 401 || forbidden) &&
                        !(row.path === '/api/v1/keys/revoke-all' && role !== 'owner'))
                        failures.push(`${row.method} ${row.path} as ${role}: ${r.status} ${r.text}`);
                    if (allowed === 'no' && !forbidden)
                        failures.push(`${row.method} ${row.path} as ${role}: expected 403 ROLE_FORBIDDEN, got ${r.status}`);
                }
            }
            assert.deepEqual(failures, []);
        });

        test('no key at all is 401 on every keyed endpoint', async () => {
            for (const row of matrix()) {
                const r = await api(w.port, row.method, row.path.replace(/\{[a-z_]+\}/g, 'key_0123456789abcdef'), null,
                                    row.method === 'GET' ? undefined : {});
                assert.equal(r.status, 401, `${row.method} ${row.path}`);
            }
        });

        test('every /api/ endpoint refuses a query with a NUL, a repeated parameter or a bad escape', async () => {
            const bad = ['?org_id=a%00b', '?limit=1&limit=2', '?status=%zz', '?dry_run=1&dry_run=0'];
            const failures = [];
            for (const row of matrix().filter((r) => r.path.startsWith('/api/'))) {
                const p = row.path.replace('{id}', 'zzz_0123456789abcdef');
                for (const q of bad) {
                    const r = await api(w.port, row.method, p + q, keys.owner, row.method === 'GET' ? undefined : {});
                    if (r.status !== 400 || r.json?.error?.code !== 'INVALID_REQUEST')
                        failures.push(`${row.method} ${p}${q}: ${r.status}`);
                }
            }
            assert.deepEqual(failures, []);
            const ok = await api(w.port, 'GET', '/api/v1/keys?include_revoked=1', keys.owner);
            assert.equal(ok.status, 200, 'a plain query still works');
        });

        test('rank: an admin cannot mint or manage an owner key; an owner can', async () => {
            const r = await api(w.port, 'POST', '/api/v1/keys', keys.admin, { role: 'owner' });
            assert.equal(r.status, 403);
            assert.equal(r.json.error.code, 'ROLE_FORBIDDEN');
            const list = await api(w.port, 'GET', '/api/v1/keys', keys.admin);
            const ownerKey = list.json.data.find((k) => k.role === 'owner');
            const rev = await api(w.port, 'POST', `/api/v1/keys/${ownerKey.id}/revoke`, keys.admin, {});
            assert.equal(rev.status, 403);
            const ok = await api(w.port, 'POST', '/api/v1/keys', keys.owner, { role: 'owner', name: 'second owner' });
            assert.equal(ok.status, 201, ok.text);
        });
    });
}

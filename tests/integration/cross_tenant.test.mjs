// cross_tenant: org B's credentials against org A's objects get 404 (not 403: existence is not
// revealed) for read, update and delete, on SQLite and on PostgreSQL (row-level security). The
// same suite runs on both backends; A's objects are checked intact afterwards.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, postJson, chatBody } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

for (const backend of ['sqlite', 'pg']) {
    describe(`cross-tenant isolation on ${backend}`, () => {
        const scope = new Scope();
        let w, a = {};

        before(async () => {
            w = await startTenants(scope, backend);
            const admin = w.A.admin;
            const agent = await api(w.port, 'POST', '/api/v1/agents', admin, { name: 'a-bot', model: 'gpt-4o-mini' });
            assert.equal(agent.status, 201, agent.text);
            a.agent = agent.json.id;
            const key = await api(w.port, 'POST', '/api/v1/keys', admin, { role: 'member', name: 'a-member' });
            assert.equal(key.status, 201, key.text);
            a.key = key.json.id;
            a.keySecret = key.json.key;
            const mem = await api(w.port, 'POST', '/api/v1/members', admin, { email: 'ann@a.example', role: 'reviewer' });
            assert.equal(mem.status, 201, mem.text);
            a.member = mem.json.id;
            const call = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
            assert.equal(call.status, 200, call.text);
            a.receipt = call.headers['bulwark-receipt-id'];
            const plan = await api(w.port, 'POST', `/api/v1/agents/${a.agent}/delete?dry_run=1`, admin, {});
            assert.equal(plan.status, 200, plan.text);
            a.token = plan.json.confirm_token;
        });

        after(async () => { await w?.stop(); await scope.cleanup(); });

        const cases = () => [
            ['GET', `/api/v1/keys/${a.key}`],
            ['POST', `/api/v1/keys/${a.key}/revoke`, {}],
            ['POST', `/api/v1/keys/${a.key}/rotate`, {}],
            ['GET', `/api/v1/agents/${a.agent}`],
            ['PATCH', `/api/v1/agents/${a.agent}`, { description: 'mine now' }],
            ['POST', `/api/v1/agents/${a.agent}/widget`, { enabled: true }],
            ['POST', `/api/v1/agents/${a.agent}/delete?dry_run=1`, {}],
            ['DELETE', `/api/v1/members/${a.member}`],
            ['GET', `/api/v1/receipts/${a.receipt}`],
        ];

        test('every id-taking endpoint answers 404 to another org, for read, update and delete', async () => {
            for (const [method, p, body] of cases()) {
                const r = await api(w.port, method, p, w.B.owner, body);
                assert.equal(r.status, 404, `${method} ${p}: ${r.status} ${r.text}`);
                assert.equal(r.json.error.code, 'NOT_FOUND', `${method} ${p}`);
            }
        });

        test('a confirm token of org A is worthless in org B', async () => {
            const r = await api(w.port, 'POST', `/api/v1/agents/${a.agent}/delete`, w.B.owner,
                                { confirm_token: a.token });
            assert.equal(r.status, 404);
        });

        test('listings show only the caller org', async () => {
            const keys = await api(w.port, 'GET', '/api/v1/keys?include_revoked=1', w.B.owner);
            assert.ok(keys.json.data.every((k) => k.id !== a.key));
            const agents = await api(w.port, 'GET', '/api/v1/agents', w.B.owner);
            assert.ok(agents.json.data.every((x) => x.id !== a.agent));
            const t = await api(w.port, 'GET', `/api/v1/transcripts?agent_id=${a.agent}`, w.B.owner);
            assert.deepEqual(t.json.data, []);
            // B sees only its own first owner member (every org has one: ACCESS.md "Principals")
            const mem = await api(w.port, 'GET', '/api/v1/members', w.B.owner);
            assert.deepEqual(mem.json.data.map((m) => m.role), ['owner'], mem.text);
            assert.ok(mem.json.data.every((m) => m.id !== a.member && m.email !== 'ann@a.example'));
        });

        test("org A's objects are intact and its key still works", async () => {
            const k = await api(w.port, 'GET', `/api/v1/keys/${a.key}`, w.A.admin);
            assert.equal(k.json.status, 'active');
            const ag = await api(w.port, 'GET', `/api/v1/agents/${a.agent}`, w.A.admin);
            assert.equal(ag.json.description, '');
            assert.equal(ag.json.widget.enabled, false);
            const me = await api(w.port, 'GET', '/api/v1/me', a.keySecret);
            assert.equal(me.status, 200);
            const mem = await api(w.port, 'GET', '/api/v1/members', w.A.admin);
            assert.equal(mem.json.data.length, 2, mem.text); // init's owner member and ann
            assert.ok(mem.json.data.some((m) => m.id === a.member));
        });

        test('forged, malformed and hostile ids are plain 404s', async () => {
            for (const id of ["key_' OR '1'='1", 'key_0123456789abcdeg', '..%2F..%2Fetc', 'x'.repeat(5000),
                              `${a.key}%00`, 'KEY_0123456789ABCDEF', `${a.key};DROP TABLE api_keys`]) {
                const enc = id.replace(/[^A-Za-z0-9_.%-]/g, (c) => encodeURIComponent(c));
                const r = await api(w.port, 'GET', `/api/v1/keys/${enc}`, w.A.admin);
                assert.ok(r.status === 404 || r.status === 400, `${id.slice(0, 40)}: ${r.status}`);
            }
            const k = await api(w.port, 'GET', `/api/v1/keys/${a.key}`, w.A.admin);
            assert.equal(k.status, 200, 'the table survived');
        });

        test('SQL metacharacters in names are stored as text; enormous names and bad UTF-8 are refused', async () => {
            const name = "x'); DROP TABLE api_keys; -- \" \\ %_";
            const r = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name });
            assert.equal(r.status, 201, r.text);
            assert.equal(r.json.name, name);
            const back = await api(w.port, 'GET', `/api/v1/keys/${r.json.id}`, w.A.admin);
            assert.equal(back.json.name, name);
            const bad = await api(w.port, 'POST', '/api/v1/agents', w.A.admin, { name: "bot'; --" });
            assert.equal(bad.status, 400);
            const huge = await api(w.port, 'POST', '/api/v1/members', w.A.admin,
                                   { email: `${'a'.repeat(100000)}@x.example`, role: 'member' });
            assert.equal(huge.status, 400);
            const utf8 = await api(w.port, 'POST', '/api/v1/agents', w.A.admin,
                                   Buffer.from('{"name":"ok","description":"\xff\xfe"}', 'latin1'));
            assert.equal(utf8.status, 400);
            assert.equal(utf8.json.error.code, 'INVALID_JSON');
            const nul = await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'a\u0000b' });
            assert.equal(nul.status, 400);
            const dup = await api(w.port, 'POST', '/api/v1/keys', w.A.admin,
                                  Buffer.from('{"role":"agent","role":"owner"}'));
            assert.equal(dup.status, 400);
        });

        test('uniqueness is per org: the same agent name may exist in two orgs', async () => {
            const r = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'a-bot' });
            assert.equal(r.status, 201, r.text);
            const again = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'a-bot' });
            assert.equal(again.status, 409);
            assert.equal(again.json.error.code, 'CONFLICT');
        });
    });
}

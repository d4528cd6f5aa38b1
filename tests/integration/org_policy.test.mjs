// org_policy: an org's own policy through PUT /api/v1/policies. The platform policy's global
// layer runs first for every org (an org can tighten, never loosen it); the org's rules then
// decide its calls only; a policy that does not compile never replaces the running one; the
// decision receipts name both policies by hash; DELETE returns to the platform's rules. Runs on
// SQLite and on PostgreSQL (the org policy is stored under row-level security).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Scope, postJson, sha256, receipts, predicate, receiptAt, request, run } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const PLATFORM = `version: 1
global:
  - id: no-shell
    match: {tool: ['shell*']}
    effect: deny
rules:
  - id: chat-any-gpt
    match: {route: chat, model: 'gpt-4o*'}
    effect: allow
`;
const ORG = `version: 1
rules:
  - id: mini-only
    match: {route: chat, model: gpt-4o-mini}
    effect: allow
  - id: shell-is-fine-here
    match: {tool: ['shell*']}
    effect: allow
`;

const chat = (model, extra = {}) => ({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extra });
const shellTool = { tools: [{ type: 'function', function: { name: 'shell', parameters: { type: 'object' } } }] };
const put = (port, key, text) => request(port, {
    method: 'PUT', path: '/api/v1/policies', body: text,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
});

for (const backend of ['sqlite', 'pg']) {
    describe(`org policies on ${backend}`, () => {
        const scope = new Scope();
        let w, bAgent;

        before(async () => {
            w = await startTenants(scope, backend, {
                yaml: 'policy: policy.yaml\n', files: { 'policy.yaml': PLATFORM },
            });
            const ag = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'b-bot' });
            assert.equal(ag.status, 201, ag.text);
            const k = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'agent', agent: 'b-bot' });
            bAgent = k.json.key;
        });
        after(async () => { await w?.stop(); await scope.cleanup(); });

        test('without an org policy the platform rules decide', async () => {
            assert.equal((await postJson(w.port, '/v1/chat/completions', chat('gpt-4o'), { key: bAgent })).status, 200);
            const g = await api(w.port, 'GET', '/api/v1/policies', w.B.owner);
            assert.equal(g.json.platform.sha256, sha256(PLATFORM));
            assert.equal(g.json.org, null);
        });

        test('a bad policy, or one with a global layer, is refused and changes nothing', async () => {
            const bad = await put(w.port, w.B.owner, 'version: 1\nrules:\n  - id: x\n    match: {nope: 1}\n    effect: allow\n');
            assert.equal(bad.status, 400);
            assert.match(bad.json.error.message, /policy:\d+:/, 'the error says the line');
            const glob = await put(w.port, w.B.owner, 'version: 1\nglobal:\n  - id: g\n    match: {}\n    effect: allow\nrules: []\n');
            assert.equal(glob.status, 400);
            const member = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'member' });
            const forbidden = await put(w.port, member.json.key, ORG);
            assert.equal(forbidden.status, 403);
            assert.equal((await postJson(w.port, '/v1/chat/completions', chat('gpt-4o'), { key: bAgent })).status, 200);
        });

        test("the org's rules decide its calls only; the platform's global layer still runs first", async () => {
            const r = await put(w.port, w.B.owner, ORG);
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.sha256, sha256(ORG));
            const denied = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o'), { key: bAgent });
            assert.equal(denied.status, 403);
            assert.equal(denied.json.error.code, 'NO_MATCHING_RULE');
            const ok = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: bAgent });
            assert.equal(ok.status, 200, ok.text);
            const shell = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini', shellTool), { key: bAgent });
            assert.equal(shell.status, 403, 'the org cannot loosen the global layer');
            const other = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o'), { key: w.A.agent });
            assert.equal(other.status, 200, "org A still runs on the platform's rules");
            const dB = predicate(receiptAt(w.dir, Number(ok.headers['bulwark-receipt-id'].split('.')[1])));
            assert.equal(dB.policy_sha256, sha256(PLATFORM));
            assert.equal(dB.org_policy_sha256, sha256(ORG));
            assert.equal(dB.rule, 'mini-only');
            const dA = predicate(receiptAt(w.dir, Number(other.headers['bulwark-receipt-id'].split('.')[1])));
            assert.equal(dA.org_policy_sha256, undefined);
            const adm = receipts(w.dir).find((x) => predicate(x).route === 'policy.put');
            assert.equal(adm.obj.subject[0].digest.sha256, sha256(ORG), 'the admin receipt names the exact bytes');
            const g = await api(w.port, 'GET', '/api/v1/policies', w.B.owner);
            assert.equal(g.json.org.text, ORG);
            const ga = await api(w.port, 'GET', '/api/v1/policies', w.A.admin);
            assert.equal(ga.json.org, null, "org A never sees org B's policy");
        });

        test('evidence packs carry every org policy version their receipts name, and verify', async () => {
            const v2 = ORG.replace('mini-only', 'mini-only-v2');
            assert.equal((await put(w.port, w.B.owner, v2)).status, 200);
            const ok = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: bAgent });
            assert.equal(ok.status, 200);
            const pack = path.join(w.dir, '..', `pack-${backend}.tar`);
            const ex = await run(['export', '--data', w.dir, '--out', pack, '--org', w.B.org_id]);
            assert.equal(ex.code, 0, ex.stderr);
            const ver = await run(['verify', '--trust', w.vkey, pack]);
            assert.equal(ver.code, 0, ver.stdout + ver.stderr);
            const tar = (await import('node:fs')).readFileSync(pack).toString('latin1');
            for (const text of [ORG, v2, PLATFORM])
                assert.ok(tar.includes(`policies/${sha256(text)}.yaml`), 'a named policy is in the pack');
            const viaApi = await request(w.port, { method: 'POST', path: '/api/v1/evidence/export',
                                                   headers: { authorization: `Bearer ${w.B.owner}` } });
            assert.equal(viaApi.status, 200);
            assert.ok(viaApi.body.toString('latin1').includes(`policies/${sha256(v2)}.yaml`));
        });

        test('DELETE returns the org to the platform rules', async () => {
            const d = await api(w.port, 'DELETE', '/api/v1/policies', w.B.owner);
            assert.equal(d.status, 200, d.text);
            assert.equal((await postJson(w.port, '/v1/chat/completions', chat('gpt-4o'), { key: bAgent })).status, 200);
            assert.equal((await api(w.port, 'DELETE', '/api/v1/policies', w.B.owner)).status, 404);
        });
    });
}

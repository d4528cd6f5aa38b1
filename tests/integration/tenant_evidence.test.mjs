// tenant_evidence: a tenant's evidence pack (POST /api/v1/evidence/export by an org admin)
// carries only what that tenant may see, and stays verifiable after policies change (issue 12,
// item 6). The first scenario runs on SQLite and PostgreSQL (policy texts under RLS).
//   - without a platform policy file: no operator config in the pack (no other org's name or
//     id, no upstream or limits settings), the org's part of the config instead; every org
//     policy version its receipts name, also after the policy was replaced and deleted;
//   - with one: after the platform policy file is edited and reloaded, a pack of receipts
//     decided under the old text still carries it and verifies.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, postJson, request, run, sha256, predicate, receiptAt } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const chat = (model = 'gpt-4o-mini') => ({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
const put = (port, key, text) => request(port, {
    method: 'PUT', path: '/api/v1/policies', body: text,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
});

// Exports the caller's org over HTTP; returns {tar (latin1 text), names, file}.
async function exportPack(scope, w, key) {
    const r = await request(w.port, { method: 'POST', path: '/api/v1/evidence/export',
                                      headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, r.text);
    const dir = await scope.tmpdir('bw-it-tpack-');
    const file = path.join(dir, 'pack.tar');
    fs.writeFileSync(file, r.body);
    const tar = r.body.toString('latin1');
    const names = [];
    for (let off = 0; off + 512 <= r.body.length;) {
        const name = r.body.subarray(off, off + 100).toString('latin1').replace(/\0.*$/s, '');
        if (!name) break;
        const size = parseInt(r.body.subarray(off + 124, off + 136).toString('latin1'), 8);
        names.push(name);
        off += 512 + Math.ceil(size / 512) * 512;
    }
    return { tar, names, file };
}

async function verifies(w, file) {
    const v = await run(['verify', '--trust', w.vkey, file, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    return JSON.parse(v.stdout);
}

for (const backend of ['sqlite', 'pg']) describe(`a tenant's pack without a platform policy file (${backend})`, () => {
    const scope = new Scope();
    let w, config;
    before(async () => {
        w = await startTenants(scope, backend);
        config = fs.readFileSync(path.join(w.dir, 'test-config.yaml'));
    });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test('holds no operator config and no other org, and verifies across policy versions', async () => {
        const v1 = 'version: 1\nrules:\n  - id: v1-all\n    effect: allow\n';
        const v2 = 'version: 1\nrules:\n  - id: v2-all\n    effect: allow\n';
        assert.equal((await postJson(w.port, '/v1/chat/completions', chat(), { key: w.A.agent })).status, 200);
        assert.equal((await put(w.port, w.A.admin, v1)).status, 200);
        const r1 = await postJson(w.port, '/v1/chat/completions', chat(), { key: w.A.agent });
        assert.equal(r1.status, 200);
        const d1 = predicate(receiptAt(w.dir, Number(r1.headers['bulwark-receipt-id'].split('.')[1])));
        assert.notEqual(d1.policy_sha256, sha256(config), 'a tenant receipt never names the operator config');
        assert.equal((await put(w.port, w.A.admin, v2)).status, 200);
        assert.equal((await postJson(w.port, '/v1/chat/completions', chat(), { key: w.A.agent })).status, 200);
        assert.equal((await api(w.port, 'DELETE', '/api/v1/policies', w.A.admin)).status, 200);
        // a denied call and another org's traffic
        assert.equal((await postJson(w.port, '/v1/chat/completions', chat('gpt-5'), { key: w.A.agent })).status, 403);
        assert.equal((await postJson(w.port, '/v1/chat/completions', chat(), { key: w.B.owner })).status, 403);
        const p = await exportPack(scope, w, w.A.admin);
        assert.ok(!p.names.includes(`policies/${sha256(config)}.yaml`), 'the config is not in the pack');
        assert.ok(!p.tar.includes(config.toString('latin1')));
        for (const secret of ['orgb', w.B.org_id, 'upstream:', 'api_key_env', 'allowed_models: ['])
            assert.ok(!p.tar.includes(secret), `the pack reveals ${secret}`);
        for (const text of [v1, v2])
            assert.ok(p.names.includes(`policies/${sha256(text)}.yaml`), 'every org policy version is in');
        assert.ok(!p.names.includes('missing-policies.txt'), p.names.join(' '));
        const rep = await verifies(w, p.file);
        assert.equal(rep.missing_policy_count, 0);
        // Org B's pack: its own receipts only, the text for an org the config does not list.
        const b = await exportPack(scope, w, w.B.owner);
        assert.ok(!b.tar.includes(w.A.org_id), "org B's pack names org A");
        assert.ok(!b.tar.includes('allowed_models:\n  - '), "org B's pack lists org A's models");
        assert.ok(b.tar.includes('allowed_models: []'), 'the text for an org the config does not list');
        await verifies(w, b.file);
    });
});

const P1 = 'version: 1\nrules:\n  - id: p1-chat\n    match: {route: chat}\n    effect: allow\n';
const P2 = 'version: 1\nrules:\n  - id: p2-chat\n    match: {route: chat}\n    effect: allow\n';

describe("a tenant's pack after the platform policy file is edited", () => {
    const scope = new Scope();
    let w;
    before(async () => {
        w = await startTenants(scope, 'sqlite', { yaml: 'policy: policy.yaml\n', files: { 'policy.yaml': P1 } });
    });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test('still carries the text older receipts name, and verifies', async () => {
        assert.equal((await postJson(w.port, '/v1/chat/completions', chat(), { key: w.A.agent })).status, 200);
        await fsp.writeFile(path.join(w.dir, 'policy.yaml'), P2);
        w.proc.kill('SIGHUP');
        await w.proc.waitStderr(new RegExp(`sha256 ${sha256(P2)}`));
        const r = await postJson(w.port, '/v1/chat/completions', chat(), { key: w.A.agent });
        assert.equal(predicate(receiptAt(w.dir, Number(r.headers['bulwark-receipt-id'].split('.')[1]))).rule, 'p2-chat');
        const p = await exportPack(scope, w, w.A.admin);
        for (const text of [P1, P2])
            assert.ok(p.names.includes(`policies/${sha256(text)}.yaml`), p.names.join(' '));
        await verifies(w, p.file);
    });
});

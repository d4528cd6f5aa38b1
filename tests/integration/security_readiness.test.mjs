// Scenario: GET /api/v1/security/readiness. Each control is broken with the real fault (a key
// file chmod 0644, the ledger unable to grow, an allow-all policy loaded by SIGHUP, a secret
// pasted into the config, the data directory opened up, a widget without origins, an operator
// key without expiry, RLS disabled or unforced on one table as the PostgreSQL owner, ...) and
// its status is watched change within seconds, then the fault is repaired and it recovers.
// Every view (public, org admin, operator) of every gateway here is scanned for paths, hosts,
// addresses, the database URL, the version string and key material.
// (The PostgreSQL half is security_readiness_pg.test.mjs.)
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, run, waitFor, sleep, configYaml, initData, request } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import {
    CONTROLS, RANK, ORIGIN, readiness, control, waitControl, checkShape, pgWhere, forbidden, scanViews, operatorKeys, keysRecover, POLICY_OK, POLICY_ALLOW_ALL,
} from './lib/security_readiness_common.mjs';

const scope = new Scope();
let restoreLimit = null;
after(async () => {
    if (restoreLimit) restoreLimit();
    await scope.cleanup();
});

describe('sqlite', () => {
    let w, op, forever;
    before(async () => {
        w = await startTenants(scope, 'sqlite', { files: { 'policy.yaml': POLICY_OK },
                                                  yaml: 'policy: policy.yaml\n' });
        ({ op, forever } = await operatorKeys(w));
    });

    test('views: public ids and statuses only; admin its org; operator everything', async () => {
        const pub = checkShape((await readiness(w.port)).json, 'public');
        const adm = checkShape((await readiness(w.port, w.A.admin)).json, 'admin');
        const owner = checkShape((await readiness(w.port, w.B.owner)).json, 'admin');
        checkShape((await readiness(w.port, w.A.agent)).json, 'public'); // not an admin
        const ope = checkShape((await readiness(w.port, op)).json, 'operator');
        for (const c of ope.controls) {
            assert.equal(typeof c.detail, 'string');
            assert.equal(typeof c.values, 'object');
        }
        assert.equal(control(ope, 'policy').values.loaded, true);
        assert.match(control(ope, 'policy').values.sha256, /^[0-9a-f]{64}$/);
        assert.equal(control(pub, 'transport').status, 'pass');
        // a present but invalid credential is refused, not downgraded
        const bad = await readiness(w.port, 'bwk_' + 'A'.repeat(43));
        assert.equal(bad.status, 401);
        assert.equal(bad.json.error.code, 'UNAUTHENTICATED');
        // the admin's keys detail is its own org's: org A has two keys, org B one
        assert.equal(control(adm, 'keys').values.live, 2);
        assert.equal(control(owner, 'keys').values.live, 1);
        const post = await api(w.port, 'POST', '/api/v1/security/readiness', op, {});
        assert.equal(post.status, 405);
        await scanViews(w, { public: undefined, admin: w.A.admin, operator: op }, [op, op.slice(4)]);
    });

    test('concurrent views of every kind while snapshots are swapped: all consistent', async () => {
        const f = path.join(w.dir, 'ledger', 'signing.key');
        const keys = [undefined, w.A.admin, w.B.owner, w.A.agent, op];
        const views = ['public', 'admin', 'admin', 'public', 'operator'];
        let flips = 0;
        const flipper = setInterval(() => fs.chmodSync(f, ++flips % 2 ? 0o640 : 0o600), 150);
        try {
            for (let round = 0; round < 4; round++) {
                const rs = await Promise.all(Array.from({ length: 60 }, (_, i) =>
                    readiness(w.port, keys[i % keys.length]).then((r) => [r, views[i % keys.length]])));
                for (const [r, view] of rs) {
                    assert.equal(r.status, 200, r.text);
                    checkShape(r.json, view);
                }
                await sleep(700);
            }
        } finally {
            clearInterval(flipper);
            fs.chmodSync(f, 0o600);
        }
        await waitControl(w.port, undefined, 'signing_key', 'pass');
    });

    test('master_key: chmod 0644 fails, 0600 recovers', async () => {
        const f = path.join(w.dir, 'master.key');
        await waitControl(w.port, undefined, 'master_key', 'pass');
        fs.chmodSync(f, 0o644);
        try {
            const c = await waitControl(w.port, op, 'master_key', 'fail');
            assert.equal(c.values.file_mode, '0644');
            await waitControl(w.port, undefined, 'master_key', 'fail');
        } finally {
            fs.chmodSync(f, 0o600);
        }
        await waitControl(w.port, undefined, 'master_key', 'pass');
        // a rotation's next key left readable by others is a key file too
        const next = path.join(w.dir, 'master.key.next');
        fs.writeFileSync(next, crypto.randomBytes(32), { mode: 0o644 });
        fs.chmodSync(next, 0o644);
        try {
            const c = await waitControl(w.port, op, 'master_key', 'fail');
            assert.equal(c.values.next_file_mode, '0644');
        } finally {
            fs.rmSync(next, { force: true }); // before any SIGHUP could load it
        }
        await waitControl(w.port, undefined, 'master_key', 'pass');
    });

    test('signing_key: chmod 0644 fails, 0600 recovers', async () => {
        const f = path.join(w.dir, 'ledger', 'signing.key');
        fs.chmodSync(f, 0o644);
        try {
            await waitControl(w.port, undefined, 'signing_key', 'fail');
        } finally {
            fs.chmodSync(f, 0o600);
        }
        await waitControl(w.port, undefined, 'signing_key', 'pass');
    });

    test('ledger: the log cannot grow (RLIMIT_FSIZE at its size) fails; lifted, recovers', async () => {
        await waitControl(w.port, undefined, 'ledger', 'pass');
        const size = fs.statSync(path.join(w.dir, 'ledger', 'log')).size;
        const prlimit = (v) => execFileSync('prlimit', ['--pid', String(w.proc.pid), `--fsize=${v}:`]);
        prlimit(String(size));
        restoreLimit = () => prlimit('unlimited');
        try {
            const c = await waitControl(w.port, op, 'ledger', 'fail');
            assert.equal(c.values.headroom_bytes, 0);
        } finally {
            prlimit('unlimited');
            restoreLimit = null;
        }
        await waitControl(w.port, undefined, 'ledger', 'pass');
    });

    test('policy: an allow-all rule loaded by SIGHUP fails; the old policy back recovers', async () => {
        const f = path.join(w.dir, 'policy.yaml');
        await waitControl(w.port, undefined, 'policy', 'pass');
        fs.writeFileSync(f, POLICY_ALLOW_ALL);
        w.proc.kill('SIGHUP');
        const c = await waitControl(w.port, op, 'policy', 'fail');
        assert.equal(c.values.allow_all_rules, 1);
        assert.equal(c.values.first_allow_all_rule, 'everything-else');
        fs.writeFileSync(f, POLICY_OK);
        w.proc.kill('SIGHUP');
        await waitControl(w.port, undefined, 'policy', 'pass');
    });

    test('policy: an org admin PUTs an allow-all org policy: fails; DELETE recovers', async () => {
        const put = (text) => request(w.port, {
            method: 'PUT', path: '/api/v1/policies', body: text,
            headers: { authorization: `Bearer ${w.B.owner}`, 'content-type': 'application/yaml' },
        });
        await waitControl(w.port, undefined, 'policy', 'pass');
        const ok = await put('version: 1\nrules:\n  - id: b-mini\n    match: {model: gpt-4o-mini}\n    effect: allow\n');
        assert.equal(ok.status, 200, ok.text);
        await sleep(2500); // a refresh sees it: still default deny
        assert.equal(control((await readiness(w.port)).json, 'policy').status, 'pass');
        const bad = await put('version: 1\nrules:\n  - id: b-all\n    match: {}\n    effect: allow\n');
        assert.equal(bad.status, 200, bad.text);
        const c = await waitControl(w.port, op, 'policy', 'fail');
        assert.deepEqual(c.values.org_policies_allowing_all, [w.B.org_id]);
        await waitControl(w.port, undefined, 'policy', 'fail');
        const del = await api(w.port, 'DELETE', '/api/v1/policies', w.B.owner);
        assert.equal(del.status, 200, del.text);
        await waitControl(w.port, undefined, 'policy', 'pass');
    });

    test('config_secrets: a provider key pasted into the config fails; removed, recovers', async () => {
        const f = path.join(w.dir, 'test-config.yaml');
        const text = fs.readFileSync(f, 'utf8');
        const secret = `sk-proj-${crypto.randomBytes(24).toString('hex')}`;
        await waitControl(w.port, undefined, 'config_secrets', 'pass');
        fs.writeFileSync(f, text + `# old key, do not use: ${secret}\n`);
        try {
            const c = await waitControl(w.port, op, 'config_secrets', 'fail');
            assert.equal(c.values.inline_secret_values, 1);
            await scanViews(w, { public: undefined, admin: w.A.admin, operator: op },
                            [secret, secret.slice(8)]);
        } finally {
            fs.writeFileSync(f, text);
        }
        await waitControl(w.port, undefined, 'config_secrets', 'pass');
    });

    test('store_isolation (sqlite): data dir 0755 or a readable db file fails; recovers', async () => {
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        fs.chmodSync(w.dir, 0o755);
        try {
            const c = await waitControl(w.port, op, 'store_isolation', 'fail');
            assert.equal(c.values.data_dir_mode, '0755');
        } finally {
            fs.chmodSync(w.dir, 0o700);
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        const db = path.join(w.dir, 'bulwark.db');
        fs.chmodSync(db, 0o644);
        try {
            await waitControl(w.port, undefined, 'store_isolation', 'fail');
        } finally {
            fs.chmodSync(db, 0o600);
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
    });

    test('widgets: an enabled widget without origins warns (its org admin sees it); recovers', async () => {
        const agents = await api(w.port, 'GET', '/api/v1/agents', w.A.admin);
        assert.equal(agents.status, 200, agents.text);
        const agent = agents.json.data[0];
        const set = (body) => api(w.port, 'POST', `/api/v1/agents/${agent.id}/widget`, w.A.admin, body);
        assert.equal((await set({ enabled: true, origins: [ORIGIN] })).status, 200);
        await waitControl(w.port, undefined, 'widgets', 'pass');
        assert.equal((await set({ enabled: true, origins: [] })).status, 200);
        await waitControl(w.port, undefined, 'widgets', 'warn');
        const mine = await waitControl(w.port, w.A.admin, 'widgets', 'warn');
        assert.deepEqual(mine.values.without_origins, [agent.id]);
        const other = await waitControl(w.port, w.B.owner, 'widgets', 'pass'); // org B: not its
        assert.equal(other.values.enabled, 0);
        assert.equal((await set({ enabled: true, origins: [ORIGIN] })).status, 200);
        await waitControl(w.port, undefined, 'widgets', 'pass');
    });

    test('keys: an operator key without expiry warns; revoked, recovers', async () => {
        await keysRecover(w, op, forever);
    });
});

describe('static configuration faults', () => {
    test('transport, egress_guard and upstream_credentials', async () => {
        const data = await initData(scope);
        const keyFile = path.join(data.dir, 'provider.key');
        await fsp.writeFile(keyFile, `sk-${crypto.randomBytes(20).toString('hex')}\n`, { mode: 0o600 });
        const configPath = path.join(data.dir, 'test-config.yaml');
        await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null }).replace(
            '  url: mock\n', `  url: mock\n  api_key_file: ${keyFile}\n`) +
            'egress:\n  allow: ["169.254.0.0/16"]\nallow_plain_http: true\n');
        const made = await run(['key', 'create', '--data', data.dir, '--operator',
                                '--expires-in-s', '3600']);
        assert.equal(made.code, 0, made.stderr);
        const op = JSON.parse(made.stdout.trim().split('\n').pop());
        const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath,
                                  '--listen', '0.0.0.0:0'], { name: 'serve (all interfaces)' });
        const m = await proc.waitStderr(/bulwark listening on 0\.0\.0\.0:(\d+)/, 15000);
        const port = Number(m[1]);
        const t = await waitControl(port, op.key, 'transport', 'fail');
        assert.equal(t.values.loopback_only, false);
        const e = await waitControl(port, op.key, 'egress_guard', 'fail');
        assert.equal(e.values.metadata_refused, false);
        assert.deepEqual(e.values.allowlist, ['169.254.0.0/16']); // to the operator only
        const pub = await readiness(port);
        assert.ok(!pub.text.includes('169.254'));
        const adm = await readiness(port, data.keys.admin_key);
        assert.ok(!adm.text.includes('169.254'));
        await waitControl(port, undefined, 'upstream_credentials', 'pass');
        fs.chmodSync(keyFile, 0o644);
        const u = await waitControl(port, op.key, 'upstream_credentials', 'fail');
        assert.equal(u.values.file_mode, '0644');
        assert.ok(!JSON.stringify(u).includes('provider.key'));
        fs.chmodSync(keyFile, 0o600);
        await waitControl(port, undefined, 'upstream_credentials', 'pass');
        await proc.stop(3000);
        // the configuration repaired (loopback listener, no metadata range allowed): restarted on
        // the same data, transport and egress_guard pass
        await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null }).replace(
            '  url: mock\n', `  url: mock\n  api_key_file: ${keyFile}\n`));
        const again = scope.spawn(['serve', '--data', data.dir, '--config', configPath,
                                   '--listen', '127.0.0.1:0'], { name: 'serve (repaired)' });
        const m2 = await again.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
        const t2 = await waitControl(Number(m2[1]), op.key, 'transport', 'pass');
        assert.equal(t2.values.loopback_only, true);
        await waitControl(Number(m2[1]), op.key, 'egress_guard', 'pass');
        await again.stop(3000);
    });
});

// Scenario: GET /api/v1/security/readiness. Each control is broken with the real fault (a key
// file chmod 0644, the ledger unable to grow, an allow-all policy loaded by SIGHUP, a secret
// pasted into the config, the data directory opened up, a widget without origins, an operator
// key without expiry, RLS disabled or unforced on one table as the PostgreSQL owner, ...) and
// its status is watched change within seconds, then the fault is repaired and it recovers.
// Every view (public, org admin, operator) of every gateway here is scanned for paths, hosts,
// addresses, the database URL, the version string and key material.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, run, waitFor, sleep, configYaml, initData, request } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const CONTROLS = ['master_key', 'signing_key', 'ledger', 'policy', 'config_secrets', 'transport',
                  'store_isolation', 'egress_guard', 'upstream_credentials', 'widgets', 'keys'];
const RANK = { pass: 0, warn: 1, fail: 2 };
const ORIGIN = 'https://shop.example';

const scope = new Scope();
let restoreLimit = null;
after(async () => {
    if (restoreLimit) restoreLimit();
    await scope.cleanup();
});

const readiness = (port, key) => api(port, 'GET', '/api/v1/security/readiness', key);
const control = (body, id) => body.controls.find((c) => c.id === id);

// Waits until control `id` has `status` in the view of `key` (fresh snapshots every 2 s).
async function waitControl(port, key, id, status, timeoutMs = 12000) {
    let last;
    await waitFor(async () => {
        const r = await readiness(port, key);
        assert.equal(r.status, 200, r.text);
        last = control(r.json, id);
        return last.status === status;
    }, { timeoutMs, intervalMs: 200, what: `${id} -> ${status}` }).catch((e) => {
        throw new Error(`${e.message}; last: ${JSON.stringify(last)}`);
    });
    return last;
}

// The shape every view shares; returns the body.
function checkShape(body, view) {
    assert.deepEqual(Object.keys(body).sort(), ['controls', 'status']);
    assert.deepEqual(body.controls.map((c) => c.id), CONTROLS);
    let worst = 'pass';
    for (const c of body.controls) {
        assert.ok(c.status in RANK, `${c.id}: ${c.status}`);
        if (RANK[c.status] > RANK[worst]) worst = c.status;
        const detailed = view === 'operator' ||
            (view === 'admin' && (c.id === 'widgets' || c.id === 'keys'));
        assert.deepEqual(Object.keys(c).sort(),
                         detailed ? ['detail', 'id', 'status', 'values'] : ['id', 'status'],
                         `${view} view of ${c.id}`);
    }
    assert.equal(body.status, worst, 'status is the worst control');
    return body;
}

// The socket folder and port of a tenants.mjs database URL (...@/bulwark?host=DIR&port=N).
function pgWhere(url) {
    const q = new URLSearchParams(url.slice(url.indexOf('?') + 1));
    return { host: q.get('host'), port: q.get('port') };
}

// Everything that must never appear in any view of gateway w.
function forbidden(w, extra = []) {
    const out = [w.dir, path.dirname(w.dir), path.join(w.dir, 'test-config.yaml'),
                 path.join(w.dir, 'master.key'), path.join(w.dir, 'ledger'), 'master.key',
                 'signing.key', 'bulwark.db', 'test-config', '/tmp', '127.0.0.1', 'localhost',
                 w.A.admin, w.A.agent, w.B.owner, w.op, ...extra];
    for (const k of [w.A.admin, w.A.agent, w.B.owner, w.op]) out.push(k.slice(4));
    for (const f of [path.join(w.dir, 'master.key'), path.join(w.dir, 'ledger', 'signing.key')]) {
        const b = fs.readFileSync(f);
        out.push(b.toString('hex'), b.toString('base64'), b.toString('base64url'));
    }
    const version = spawnSync(process.env.BULWARK_BIN || 'build/bulwark', ['version'],
                              { encoding: 'utf8' }).stdout.trim();
    assert.match(version, /\d+\.\d+\.\d+/);
    out.push(version, version.match(/\d+\.\d+\.\d+/)[0]);
    if (w.database) {
        const { host, port } = pgWhere(w.database);
        out.push(w.database, host, `:${port}`, `port=${port}`, `"${port}"`, 'bulwark_app',
                 'bulwark_owner');
    }
    return out;
}

async function scanViews(w, keys, extra = []) {
    const bad = forbidden(w, extra);
    for (const [view, key] of Object.entries(keys)) {
        const r = await readiness(w.port, key);
        assert.equal(r.status, 200, r.text);
        checkShape(r.json, view);
        for (const s of bad)
            assert.ok(!r.text.includes(s), `the ${view} view contains ${JSON.stringify(s)}`);
        assert.doesNotMatch(r.text, /\/(tmp|home|root|var|etc|usr|run)\b/, `${view}: a path`);
        assert.doesNotMatch(r.text, /\b(?:\d{1,3}\.){3}\d{1,3}\b/, `${view}: an IPv4 address`);
    }
}

// Operator keys are made through the API while the gateway runs (the CLI needs the ledger). A
// key's expiry is bounded by its creator's, so the unexpiring key must be made by the
// tenants' unexpiring operator key, before that one is revoked. Returns {op (expires in a
// day), forever (no expiry: the keys control warns while it lives)}.
async function operatorKeys(w) {
    const make = async (body) => {
        const r = await api(w.port, 'POST', '/api/v1/operator/keys', w.op, body);
        assert.equal(r.status, 201, r.text);
        return r.json;
    };
    const exp = await make({ name: 'ops-exp', expires_in_s: 86400 });
    const forever = await make({ name: 'forever' });
    assert.equal(forever.expires_ms, 0, JSON.stringify(forever));
    const list = await api(w.port, 'GET', '/api/v1/operator/keys', exp.key);
    assert.equal(list.status, 200, list.text);
    const mine = list.json.data.find((x) => x.name === 'ops');
    const rv = await api(w.port, 'POST', `/api/v1/operator/keys/${mine.id}/revoke`, exp.key, {});
    assert.equal(rv.status, 200, rv.text);
    return { op: exp.key, forever };
}

// The keys control: warns while an unexpiring operator key lives; revoked, it recovers.
async function keysRecover(w, op, forever) {
    const c = await waitControl(w.port, op, 'keys', 'warn');
    assert.deepEqual(c.values.operator_keys_without_expiry, [forever.id]);
    await waitControl(w.port, undefined, 'keys', 'warn');
    // an org admin does not see operator keys
    const adm = await readiness(w.port, w.A.admin);
    assert.equal(control(adm.json, 'keys').status, 'pass');
    assert.ok(!adm.text.includes(forever.id));
    const rv = await api(w.port, 'POST', `/api/v1/operator/keys/${forever.id}/revoke`, op, {});
    assert.equal(rv.status, 200, rv.text);
    await waitControl(w.port, undefined, 'keys', 'pass');
}

const POLICY_OK = `version: 1
rules:
  - id: chat-mini
    match: {model: gpt-4o-mini}
    effect: allow
`;
const POLICY_ALLOW_ALL = `version: 1
rules:
  - id: chat-mini
    match: {model: gpt-4o-mini}
    effect: allow
  - id: everything-else
    match: {model: '*', org: '*'}
    effect: allow
`;

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

describe('postgresql', () => {
    let w, op, forever;
    const pgPsql = (sql, user = 'bulwark_owner') => {
        const { host, port } = pgWhere(w.database);
        const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', port,
                                     '-U', user, '-d', 'bulwark', '-c', sql],
                            { encoding: 'utf8', timeout: 15000 });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
    };
    before(async () => {
        w = await startTenants(scope, 'pg');
        ({ op, forever } = await operatorKeys(w));
    });
    after(async () => w && w.stop());

    test('store_isolation: RLS checked live as the runtime role; one table unforced or disabled fails', async () => {
        let c = await waitControl(w.port, op, 'store_isolation', 'pass');
        assert.equal(c.values.backend, 'postgresql');
        assert.ok(c.values.tables >= 20, JSON.stringify(c.values));
        assert.equal(c.values.runtime_role_bypassrls, false);
        pgPsql('ALTER TABLE agents NO FORCE ROW LEVEL SECURITY');
        c = await waitControl(w.port, op, 'store_isolation', 'fail');
        assert.deepEqual(c.values.rls_not_forced, ['agents']);
        await waitControl(w.port, undefined, 'store_isolation', 'fail');
        pgPsql('ALTER TABLE agents FORCE ROW LEVEL SECURITY');
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        pgPsql('ALTER TABLE transcripts DISABLE ROW LEVEL SECURITY');
        c = await waitControl(w.port, op, 'store_isolation', 'fail');
        assert.deepEqual(c.values.rls_disabled, ['transcripts']);
        pgPsql('ALTER TABLE transcripts ENABLE ROW LEVEL SECURITY');
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
    });

    test('store_isolation: a runtime role that owns a table, or may become the owner, fails', async () => {
        pgPsql('ALTER TABLE plans OWNER TO bulwark_app', 'postgres');
        try {
            const c = await waitControl(w.port, op, 'store_isolation', 'fail');
            assert.deepEqual(c.values.owned_by_runtime_role, ['plans']);
        } finally {
            pgPsql('ALTER TABLE plans OWNER TO bulwark_owner', 'postgres');
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        pgPsql('GRANT bulwark_owner TO bulwark_app', 'postgres');
        try {
            const c = await waitControl(w.port, op, 'store_isolation', 'fail');
            assert.ok(c.values.owned_by_runtime_role.length >= 16, JSON.stringify(c.values));
        } finally {
            pgPsql('REVOKE bulwark_owner FROM bulwark_app', 'postgres');
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        pgPsql('ALTER ROLE bulwark_app BYPASSRLS', 'postgres');
        try {
            const c = await waitControl(w.port, op, 'store_isolation', 'fail');
            assert.equal(c.values.runtime_role_bypassrls, true);
        } finally {
            pgPsql('ALTER ROLE bulwark_app NOBYPASSRLS', 'postgres');
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
    });

    test('keys: an unexpiring operator key warns until revoked', async () => {
        await keysRecover(w, op, forever);
    });

    test('keys: an org key unused for 90 days warns in its org admin view only', async () => {
        await waitControl(w.port, undefined, 'keys', 'pass');
        const old = Date.now() - 100 * 24 * 3600 * 1000;
        pgPsql(`UPDATE api_keys SET created_ms = ${old}, last_used_ms = 0 WHERE org_id = '${w.B.org_id}'`);
        // reading the view with B's key would record its use: watch as the operator and org A
        const c = await waitControl(w.port, op, 'keys', 'warn');
        assert.equal(c.values.org_keys_unused_90_days, 1);
        const a = await readiness(w.port, w.A.admin);
        assert.equal(control(a.json, 'keys').status, 'pass');
        pgPsql(`UPDATE api_keys SET created_ms = ${Date.now()} WHERE org_id = '${w.B.org_id}'`);
        await waitControl(w.port, undefined, 'keys', 'pass');
    });

    test('a table locked by a long transaction: widgets fail within seconds, the route keeps answering, then recovers', async () => {
        await waitControl(w.port, undefined, 'widgets', 'pass');
        const { host, port } = pgWhere(w.database);
        const locker = spawn('psql', ['-X', '-q', '-h', host, '-p', port, '-U', 'bulwark_owner',
                                      '-d', 'bulwark', '-c',
                                      'BEGIN; LOCK TABLE agents IN ACCESS EXCLUSIVE MODE; ' +
                                      'SELECT pg_sleep(12); COMMIT;'], { stdio: 'ignore' });
        const done = new Promise((resolve) => locker.on('exit', resolve));
        try {
            const t0 = Date.now();
            await waitControl(w.port, op, 'widgets', 'fail', 11000);
            assert.ok(Date.now() - t0 < 11000);
            // the other controls still have fresh verdicts: the refresher is not stuck
            const r = await readiness(w.port, op);
            assert.equal(control(r.json, 'store_isolation').status, 'pass');
        } finally {
            await done;
        }
        await waitControl(w.port, undefined, 'widgets', 'pass');
    });

    test('the database stopped: store controls fail (public view still answers); restarted, recovers', async () => {
        const { host, port } = pgWhere(w.database);
        const pgbin = fs.readdirSync('/usr/lib/postgresql').sort().map((v) => `/usr/lib/postgresql/${v}/bin`).pop();
        const asPg = (args) => {
            const argv = process.getuid() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args;
            const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30000 });
            assert.equal(r.status, 0, r.stderr);
        };
        await waitControl(w.port, undefined, 'store_isolation', 'pass');
        asPg([`${pgbin}/pg_ctl`, '-D', `${host}/data`, '-m', 'fast', '-w', 'stop']);
        try {
            // the public view needs no key lookup: it answers while the database is down
            await waitControl(w.port, undefined, 'store_isolation', 'fail');
            const r = await readiness(w.port);
            for (const id of ['widgets', 'keys']) assert.equal(control(r.json, id).status, 'fail');
            assert.equal(control(r.json, 'signing_key').status, 'pass');
        } finally {
            asPg([`${pgbin}/pg_ctl`, '-D', `${host}/data`, '-l', `${host}/server.log`, '-w', '-o',
                  `-c listen_addresses='' -k ${host} -p ${port} -c fsync=off`, 'start']);
        }
        await waitControl(w.port, undefined, 'store_isolation', 'pass', 20000);
        // each worker's own store connection died with the server: a keyed request may meet a
        // dead one once (503 STORE_UNAVAILABLE, fail closed) before that worker reconnects
        await waitFor(async () => {
            const rs = await Promise.all([op, w.A.admin, op, w.A.admin].map((k) => readiness(w.port, k)));
            return rs.every((r) => r.status === 200);
        }, { timeoutMs: 20000, intervalMs: 200, what: 'keyed views answer again' });
        await waitControl(w.port, op, 'keys', 'pass', 20000);
    });

    test('the database hangs (SIGSTOP): the snapshot goes stale and every control fails; SIGCONT recovers', async () => {
        const { host } = pgWhere(w.database);
        const pm = fs.readFileSync(path.join(host, 'data', 'postmaster.pid'), 'utf8').split('\n')[0].trim();
        const children = execFileSync('ps', ['-o', 'pid=', '--ppid', pm], { encoding: 'utf8' })
            .split('\n').map((x) => x.trim()).filter(Boolean);
        const pids = [pm, ...children];
        await waitControl(w.port, undefined, 'signing_key', 'pass');
        for (const p of pids) process.kill(Number(p), 'SIGSTOP');
        try {
            // the refresher is stuck in a query no server-side timeout can end: after
            // BW_READINESS_STALE_MS (15 s) the public view (no key lookup) reports every control
            // failed, the file checks included
            await waitFor(async () => {
                const r = await readiness(w.port);
                return r.status === 200 && r.json.controls.every((c) => c.status === 'fail');
            }, { timeoutMs: 30000, intervalMs: 500, what: 'every control fail while stale' });
        } finally {
            for (const p of pids) {
                try { process.kill(Number(p), 'SIGCONT'); } catch { /* gone */ }
            }
        }
        await waitControl(w.port, undefined, 'signing_key', 'pass', 20000);
        await waitControl(w.port, undefined, 'store_isolation', 'pass', 20000);
    });

    test('no view leaks the database URL, host, port, paths or key material', async () => {
        await scanViews(w, { public: undefined, admin: w.A.admin, operator: op }, [op, op.slice(4)]);
    });
});

// tenants: a gateway with two orgs and an operator key, on SQLite or on a throwaway PostgreSQL
// (scripts/pg-test.sh), for the identity and isolation suites that must pass on both backends.
//
//   const w = await startTenants(scope, 'sqlite' | 'pg');
//   w.port; w.vkey (the log's verifier key); w.A = {org_id, admin, agent}  (init's org "default")
//           w.B = {org_id, owner}         (an org made with `bulwark org create`)
//           w.op                          (an operator key: `bulwark key create --operator`)
//   await w.stop();                        (stops PostgreSQL; scope.cleanup() stops the rest)
//   w.pgPause(); w.pgResume();             (PostgreSQL only: an outage and its end, same socket)
// Options: yaml (appended to the config), files ({name: text} written into the data dir first),
// config (configYaml options, e.g. {workers: 1}).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO, run, configYaml, request } from './harness.mjs';

function pgTest(cmd, dir, port) {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), [cmd, dir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh ${cmd}: ${r.stderr}`);
}

async function cli(args) {
    const r = await run(args);
    assert.equal(r.code, 0, `bulwark ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
}

export async function startTenants(scope, backend, { yaml = '', files = {}, config = {} } = {}) {
    const parent = await scope.tmpdir('bw-it-tenants-');
    const dir = path.join(parent, 'data');
    let pgDir = null, database = null, port = null;
    if (backend === 'pg') {
        port = String(20000 + Math.floor(Math.random() * 20000));
        pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
        pgTest('start', pgDir, port);
        database = `postgresql://bulwark_app@/bulwark?host=${pgDir}&port=${port}`;
    }
    const init = await run(['init', '--data', dir, ...(database ? ['--database', database] : [])]);
    assert.equal(init.code, 0, init.stderr);
    const keys = JSON.parse(init.stdout);
    // On PostgreSQL the operator key goes in through the owner role (only it may write them).
    const ownerDb = database && database.replace('bulwark_app@', 'bulwark_owner@');
    const op = await cli(['key', 'create', '--data', dir, '--operator', '--name', 'ops',
                          ...(ownerDb ? ['--database', ownerDb] : [])]);
    const b = await cli(['org', 'create', '--data', dir, 'orgb']);
    for (const [name, text] of Object.entries(files))
        await fsp.writeFile(path.join(dir, name), text);
    const configPath = path.join(dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null, ...config }) +
                        (database ? `database: "${database}"\n` : '') + yaml);
    const proc = scope.spawn(['serve', '--data', dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                             { name: `serve (${backend})` });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return {
        backend, dir, proc, port: Number(m[1]), database, vkey: keys.public_key,
        A: { org_id: keys.org_id, admin: keys.admin_key, agent: keys.agent_key },
        B: { org_id: b.org_id, owner: b.owner_key },
        op: op.key,
        pgPause: () => pgTest('pause', pgDir, port),
        pgResume: () => pgTest('resume', pgDir, port),
        stop: async () => {
            await proc.stop(3000);
            if (pgDir) {
                spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', pgDir], { timeout: 30000 });
                pgDir = null;
            }
        },
    };
}

// One management call: {status, json, headers}.
export function api(port, method, p, key, body) {
    const headers = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    return request(port, { method, path: p, headers,
                           body: body === undefined ? undefined
                               : Buffer.isBuffer(body) ? body : JSON.stringify(body) });
}

// A second person of an org (docs/ACCESS.md "Principals"): an owner or admin adds the member,
// and the operator issues that member's key (no one in the org can bind a key to another
// person). Returns {member_id, id, key}.
export async function person(w, adminKey, orgId, { email, role, keyRole = role }) {
    const m = await api(w.port, 'POST', '/api/v1/members', adminKey, { email, role });
    assert.equal(m.status, 201, m.text);
    const k = await api(w.port, 'POST', `/api/v1/orgs/${orgId}/keys`, w.op,
                        { member_id: m.json.id, role: keyRole });
    assert.equal(k.status, 201, k.text);
    return { member_id: m.json.id, id: k.json.id, key: k.json.key };
}

// Another key for an existing member, issued by the operator: {id, key}.
export async function memberKey(w, orgId, memberId, role, name = '') {
    const k = await api(w.port, 'POST', `/api/v1/orgs/${orgId}/keys`, w.op,
                        { member_id: memberId, role, name });
    assert.equal(k.status, 201, k.text);
    return { id: k.json.id, key: k.json.key };
}

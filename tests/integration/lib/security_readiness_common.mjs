// Shared by security_readiness.test.mjs (SQLite, static faults) and
// security_readiness_pg.test.mjs (PostgreSQL): the readiness views' shape, fault waits and the
// leak scan. Split in two files so that neither comes near the per-file time limit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, waitFor, request } from './harness.mjs';
import { api } from './tenants.mjs';

export const CONTROLS = ['master_key', 'signing_key', 'ledger', 'policy', 'config_secrets', 'transport',
                  'store_isolation', 'egress_guard', 'upstream_credentials', 'widgets', 'keys'];
export const RANK = { pass: 0, warn: 1, fail: 2 };
export const ORIGIN = 'https://shop.example';


export const readiness = (port, key) => api(port, 'GET', '/api/v1/security/readiness', key);
export const control = (body, id) => body.controls.find((c) => c.id === id);

// Waits until control `id` has `status` in the view of `key` (fresh snapshots every 2 s).
export async function waitControl(port, key, id, status, timeoutMs = 12000) {
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
export function checkShape(body, view) {
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
export function pgWhere(url) {
    const q = new URLSearchParams(url.slice(url.indexOf('?') + 1));
    return { host: q.get('host'), port: q.get('port') };
}

// Everything that must never appear in any view of gateway w.
export function forbidden(w, extra = []) {
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

export async function scanViews(w, keys, extra = []) {
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
export async function operatorKeys(w) {
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
export async function keysRecover(w, op, forever) {
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

export const POLICY_OK = `version: 1
rules:
  - id: chat-mini
    match: {model: gpt-4o-mini}
    effect: allow
`;
export const POLICY_ALLOW_ALL = `version: 1
rules:
  - id: chat-mini
    match: {model: gpt-4o-mini}
    effect: allow
  - id: everything-else
    match: {model: '*', org: '*'}
    effect: allow
`;


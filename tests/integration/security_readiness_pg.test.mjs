// Scenario: GET /api/v1/security/readiness on PostgreSQL (the SQLite half and the shared helpers:
// security_readiness.test.mjs, lib/security_readiness_common.mjs): RLS checked live as the
// runtime role, ownership, stale keys, a locked table, a stopped and a hung database, and no
// view leaking the database URL or key material.
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

// pg_rls: the database itself keeps tenants apart. A throwaway PostgreSQL cluster (started here
// by scripts/pg-test.sh, stopped at the end) gets Bulwark's PostgreSQL migrations; then psql,
// connected as the gateway's runtime role, checks what row-level security enforces: no tenant
// set sees nothing, one tenant never sees or writes another's rows, the runtime role owns
// nothing and cannot bypass RLS, and every tenant table has RLS enabled and forced.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './lib/harness.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
const port = String(20000 + Math.floor(Math.random() * 20000));
let env;

// Runs a psql script (SQL and meta-commands, from stdin) as `user`; returns {status, out, err}.
// -At: unaligned tuples only.
function psql(user, sql) {
    const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-f', '-'],
                        { env, input: sql, encoding: 'utf8', timeout: 15000 });
    return { status: r.status, out: (r.stdout || '').trim(), err: r.stderr || '' };
}
const app = (sql) => psql('bulwark_app', sql);
// One transaction as the runtime role with the tenant set the way the gateway sets it.
const asTenant = (org, sql) =>
    app(`BEGIN; SELECT set_config('app.org_id', '${org}', true) \\g /dev/null
${sql}; COMMIT;`);

before(() => {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['start', dir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh start failed: ${r.stderr}`);
    env = { ...process.env, PGHOST: dir, PGPORT: port, PGDATABASE: 'bulwark' };
    const seed = psql('postgres', `
        INSERT INTO orgs VALUES ('org_a', 'a', 1), ('org_b', 'b', 1);
        INSERT INTO api_keys (id, org_id, role, agent, hash, created_ms, expires_ms, revoked_ms,
                              member_id) VALUES
          ('key_a', 'org_a', 'agent', '', decode(repeat('aa', 32), 'hex'), 1, 0, 0, 'operator'),
          ('key_b', 'org_b', 'agent', '', decode(repeat('bb', 32), 'hex'), 1, 0, 0, 'operator');`);
    assert.equal(seed.status, 0, seed.err);
});

after(() => {
    spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', dir], { timeout: 30000 });
});

test('with no tenant set the runtime role sees zero rows', () => {
    assert.equal(app('SELECT count(*) FROM orgs').out, '0');
    assert.equal(app('SELECT count(*) FROM api_keys').out, '0');
});

test('a tenant sees its own rows and never another tenant\'s', () => {
    assert.equal(asTenant('org_a', 'SELECT string_agg(id, \',\') FROM api_keys').out, 'key_a');
    assert.equal(asTenant('org_b', 'SELECT string_agg(id, \',\') FROM api_keys').out, 'key_b');
    assert.equal(asTenant('org_a', "SELECT count(*) FROM api_keys WHERE org_id = 'org_b'").out, '0');
    assert.equal(asTenant('org_a', 'SELECT string_agg(id, \',\') FROM orgs').out, 'org_a');
});

test('the tenant setting is transaction-local: it does not leak to the next transaction', () => {
    const r = app(`BEGIN; SELECT set_config('app.org_id', 'org_a', true) \\g /dev/null
SELECT count(*) FROM api_keys; COMMIT; SELECT count(*) FROM api_keys;`);
    assert.equal(r.status, 0, r.err);
    assert.deepEqual(r.out.split('\n').filter((l) => /^\d+$/.test(l)), ['1', '0']);
});

test('cross-tenant writes fail: insert, update, upsert, delete', () => {
    const ins = asTenant('org_a', "INSERT INTO api_keys VALUES ('key_x', 'org_b', 'agent', '', " +
                                  "decode(repeat('cc', 32), 'hex'), 1, 0, 0)");
    assert.notEqual(ins.status, 0);
    assert.match(ins.err, /row-level security/);
    const upd = asTenant('org_a', "UPDATE api_keys SET revoked_ms = 5 WHERE id = 'key_b' RETURNING id");
    assert.equal(upd.status, 0, upd.err);
    assert.equal(upd.out, '', 'no row of org_b may be updated');
    const move = asTenant('org_a', "UPDATE api_keys SET org_id = 'org_b' WHERE id = 'key_a'");
    assert.notEqual(move.status, 0, 'moving a row to another tenant must fail');
    const upsert = asTenant('org_a', "INSERT INTO api_keys VALUES ('key_b', 'org_a', 'agent', '', " +
        "decode(repeat('dd', 32), 'hex'), 1, 0, 0) ON CONFLICT (id) DO UPDATE SET revoked_ms = 9");
    assert.notEqual(upsert.status, 0, 'an upsert must not reach another tenant\'s row');
    const del = asTenant('org_a', "DELETE FROM api_keys WHERE id = 'key_b' RETURNING id");
    assert.equal(del.out, '');
    assert.equal(psql('postgres', "SELECT revoked_ms FROM api_keys WHERE id = 'key_b'").out, '0');
});

test('without a tenant even the owner of the rows cannot be written as', () => {
    const r = app("INSERT INTO orgs VALUES ('org_c', 'c', 1)");
    assert.notEqual(r.status, 0);
});

test('the runtime role is not owner, not superuser, not BYPASSRLS', () => {
    assert.equal(app("SELECT rolsuper::text || rolbypassrls::text || rolcreaterole::text FROM pg_roles " +
                     "WHERE rolname = current_user").out, 'falsefalsefalse');
    assert.equal(app("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner " +
                     "WHERE r.rolname = current_user").out, '0');
    assert.equal(app("SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner " +
                     "WHERE r.rolname = current_user").out, '0');
    assert.notEqual(app('CREATE TABLE sneaky (x int)').status, 0, 'runtime role must not create tables');
    assert.notEqual(app('ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY').status, 0);
});

test('every table with an org_id column (and orgs) has RLS enabled and forced', () => {
    const r = app(`SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND (c.relname = 'orgs' OR EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped))
        ORDER BY 1`);
    assert.equal(r.status, 0, r.err);
    const rows = r.out.split('\n').map((l) => l.split('|'));
    assert.ok(rows.length >= 2, 'expected at least orgs and api_keys');
    for (const [name, enabled, forced] of rows)
        assert.deepEqual([name, enabled, forced], [name, 't', 't'], `${name} must ENABLE and FORCE RLS`);
    const bare = app(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity`);
    assert.equal(bare.out, '0', 'every table in the schema holds tenant data and must use RLS');
    const views = app(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'v'
          AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)`);
    assert.equal(views.out, '0', 'views must use security_invoker');
});

test('key lookup crosses tenants only for the one exact hash presented', () => {
    assert.equal(app("SELECT org_id FROM bulwark_key_lookup(decode(repeat('bb', 32), 'hex'))").out, 'org_b');
    assert.equal(app("SELECT count(*) FROM bulwark_key_lookup(decode(repeat('ee', 32), 'hex'))").out, '0');
    assert.equal(app("SELECT count(*) FROM bulwark_key_lookup(decode('bb', 'hex'))").out, '0');
});

// principals_migration: migration 9 assigns every existing key a principal (docs/ACCESS.md
// "Principals"), the same way on both backends: a key bound to a member keeps it; a key made by
// a key with a member gets that member; every other key goes to the org's oldest owner member,
// created (owner@legacy.invalid) where the org has none. Afterwards no key is without one, and
// operator keys have their lifecycle columns. PostgreSQL: a database at version 8 (the owner
// role applies 0001..0008), seeded, then 0009. SQLite: a data directory whose database is rolled
// back to version 8 by hand, then opened by the gateway's CLI, which migrates it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, run } from './lib/harness.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
const port = String(20000 + Math.floor(Math.random() * 20000));
let env;

function psql(user, sql, db = 'legacy') {
    const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-f', '-'],
                        { env, input: sql, encoding: 'utf8', timeout: 30000 });
    return { status: r.status, out: (r.stdout || '').trim(), err: r.stderr || '' };
}

// Legacy rows, valid at version 8: org_a has no member at all; org_b has an owner and an admin.
const seed = (blob) => `
INSERT INTO orgs VALUES ('org_aaaaaaaaaaaaaaaa', 'a', 1), ('org_bbbbbbbbbbbbbbbb', 'b', 1);
INSERT INTO members VALUES
  ('mem_000000000000000b', 'org_bbbbbbbbbbbbbbbb', 'own@b.example', 'owner', 5),
  ('mem_00000000000000ad', 'org_bbbbbbbbbbbbbbbb', 'adm@b.example', 'admin', 6);
INSERT INTO api_keys (id, org_id, role, agent, hash, created_ms, name, member_id, created_by) VALUES
  ('key_a1', 'org_aaaaaaaaaaaaaaaa', 'admin', '', ${blob('a1')}, 1, '', '', 'cli'),
  ('key_a2', 'org_aaaaaaaaaaaaaaaa', 'agent', '', ${blob('a2')}, 2, '', '', 'key_a1'),
  ('key_b1', 'org_bbbbbbbbbbbbbbbb', 'admin', '', ${blob('b1')}, 3, '', 'mem_00000000000000ad', 'cli'),
  ('key_b2', 'org_bbbbbbbbbbbbbbbb', 'agent', '', ${blob('b2')}, 4, '', '', 'key_b1'),
  ('key_b3', 'org_bbbbbbbbbbbbbbbb', 'agent', '', ${blob('b3')}, 5, '', '', 'key_b2'),
  ('key_b4', 'org_bbbbbbbbbbbbbbbb', 'reviewer', '', ${blob('b4')}, 6, '', '', 'cli');
INSERT INTO review_items (id, org_id, requester_key, route, reviewer_role, request_sha256, quorum,
                          status, created_ms, expires_ms) VALUES
  ('rev_0000000000000001', 'org_bbbbbbbbbbbbbbbb', 'key_b2', 'chat', 'reviewer', ${blob('ee')}, 1,
   'pending', 1, 9999999999999);
INSERT INTO operator_keys (id, name, hash, created_ms) VALUES
  ('key_op', 'ops', ${blob('0f')}, 1);
`;
const pgBlob = (b) => `decode(repeat('${b}', 32), 'hex')`;
const liteBlob = (b) => `X'${b.repeat(32)}'`;
const PRINCIPALS = "SELECT group_concat(p, ',') FROM (SELECT id || '=' || member_id AS p FROM api_keys ORDER BY id) t;";
const PG_PRINCIPALS = "SELECT string_agg(id || '=' || member_id, ',' ORDER BY id) FROM api_keys;";

function checkAssigned(out, ownerOfA) {
    assert.equal(out, [`key_a1=${ownerOfA}`, `key_a2=${ownerOfA}`, 'key_b1=mem_00000000000000ad',
                       'key_b2=mem_00000000000000ad', 'key_b3=mem_00000000000000ad',
                       'key_b4=mem_000000000000000b'].join(','));
}

before(() => {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['start', dir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh start failed: ${r.stderr}`);
    env = { ...process.env, PGHOST: dir, PGPORT: port };
});

after(() => {
    spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', dir], { timeout: 30000 });
});

test('PostgreSQL: migration 9 gives every existing key a principal', () => {
    const mk = psql('postgres', 'CREATE DATABASE legacy OWNER bulwark_owner;', 'postgres');
    assert.equal(mk.status, 0, mk.err);
    const files = fs.readdirSync(path.join(REPO, 'src/store/pg')).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();
    const upTo8 = files.filter((f) => Number(f.slice(0, 4)) <= 8);
    const nine = files.find((f) => f.startsWith('0009_'));
    assert.ok(nine, 'migration 9 exists');
    for (const f of upTo8) {
        const r = psql('bulwark_owner', fs.readFileSync(path.join(REPO, 'src/store/pg', f), 'utf8'));
        assert.equal(r.status, 0, `${f}: ${r.err}`);
    }
    const seeded = psql('bulwark_owner', seed(pgBlob));
    assert.equal(seeded.status, 0, seeded.err);
    const m9 = psql('bulwark_owner', fs.readFileSync(path.join(REPO, 'src/store/pg', nine), 'utf8'));
    assert.equal(m9.status, 0, m9.err);
    const owner = psql('bulwark_owner', "SELECT id || ' ' || email || ' ' || role FROM members WHERE org_id = 'org_aaaaaaaaaaaaaaaa';");
    const [ownerId, email, role] = owner.out.split(' ');
    assert.match(ownerId, /^mem_[0-9a-f]{16}$/, owner.out);
    assert.equal(email, 'owner@legacy.invalid');
    assert.equal(role, 'owner');
    checkAssigned(psql('bulwark_owner', PG_PRINCIPALS).out, ownerId);
    assert.equal(psql('bulwark_owner', 'SELECT requester_member FROM review_items;').out, 'mem_00000000000000ad',
                 "an open review names its requester's principal");
    // org_b already had an owner: no member was made there
    assert.equal(psql('bulwark_owner', "SELECT count(*) FROM members WHERE org_id = 'org_bbbbbbbbbbbbbbbb';").out, '2');
    // from now on the database refuses a key without a principal
    const bad = psql('bulwark_owner', "INSERT INTO api_keys (id, org_id, role, hash, created_ms) VALUES " +
                     `('key_x', 'org_aaaaaaaaaaaaaaaa', 'agent', ${pgBlob('cc')}, 1);`);
    assert.notEqual(bad.status, 0, 'a key without a principal');
    assert.equal(psql('bulwark_owner', "SELECT created_by || '|' || rotated_to || '|' || last_used_ms FROM operator_keys;").out, '||0');
});

test('SQLite: the gateway migrates a version-8 database the same way', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-it-mig-'));
    const data = path.join(parent, 'data');
    try {
        const init = await run(['init', '--data', data]);
        assert.equal(init.code, 0, init.stderr);
        const db = path.join(data, 'bulwark.db');
        // Roll the new database back to version 8's shape, then seed legacy rows.
        const sql = (q) => spawnSync('sqlite3', [db], { input: q, encoding: 'utf8' });
        const back = sql(`DELETE FROM review_items; DELETE FROM api_keys; DELETE FROM members; DELETE FROM agents; DELETE FROM orgs;
DROP INDEX api_keys_principal;
ALTER TABLE operator_keys DROP COLUMN created_by; ALTER TABLE operator_keys DROP COLUMN rotated_to;
ALTER TABLE operator_keys DROP COLUMN last_used_ms;
DROP TABLE mcp_pins; -- migration 10
DROP TABLE mcp_servers; -- migration 11
DROP TABLE console_sessions; ALTER TABLE review_items DROP COLUMN detail; -- migration 12
DROP TABLE sso_subjects; DROP TABLE sso_configs; -- migration 13
PRAGMA user_version = 8;
${seed(liteBlob)}`);
        assert.equal(back.status, 0, back.stderr);
        // Any command that opens the store migrates it: list org B's keys.
        const r = await run(['key', 'list', '--data', data, '--org', 'org_bbbbbbbbbbbbbbbb']);
        assert.equal(r.code, 0, r.stderr);
        const listed = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(listed.map((k) => `${k.id}=${k.principal}`).sort(),
                         ['key_b1=mem_00000000000000ad', 'key_b2=mem_00000000000000ad',
                          'key_b3=mem_00000000000000ad', 'key_b4=mem_000000000000000b']);
        const owner = sql("SELECT id || ' ' || email FROM members WHERE org_id = 'org_aaaaaaaaaaaaaaaa';").stdout.trim();
        const [ownerId, email] = owner.split(' ');
        assert.match(ownerId, /^mem_[0-9a-f]{16}$/, owner);
        assert.equal(email, 'owner@legacy.invalid');
        checkAssigned(sql(PRINCIPALS).stdout.trim(), ownerId);
        const newest = Math.max(...fs.readdirSync(path.join(REPO, 'src/store/pg'))
            .filter((f) => /^\d{4}_.*\.sql$/.test(f)).map((f) => Number(f.slice(0, 4))));
        assert.equal(sql('PRAGMA user_version;').stdout.trim(), String(newest), 'migrated to the newest');
        assert.equal(sql('SELECT requester_member FROM review_items;').stdout.trim(), 'mem_00000000000000ad');
        const ops = await run(['key', 'list', '--data', data, '--operator']);
        assert.equal(ops.code, 0, ops.stderr);
        assert.equal(JSON.parse(ops.stdout.trim()).last_used_ms, 0);
    } finally {
        fs.rmSync(parent, { recursive: true, force: true });
    }
});

// Scenario: `bulwark init` makes a data dir: the files and their modes, the one JSON object it
// prints, keys shown only there (only hashes stored), and it refuses a dir that exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, run, initData, fileMode, keyIdOf } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let data;
before(async () => {
    data = await initData(scope);
});

function walk(dir) {
    const out = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) out.push(...walk(p));
        else out.push(p);
    }
    return out;
}

test('init prints exactly one JSON object with the keys and the log public key', () => {
    const lines = data.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `stdout: ${data.stdout}`);
    const k = data.keys;
    assert.deepEqual(Object.keys(k).sort(), ['admin_key', 'agent_key', 'org_id', 'owner_member_id', 'public_key']);
    assert.match(k.owner_member_id, /^mem_[0-9a-f]{16}$/, 'init makes the owner member its keys belong to');
    assert.equal(typeof k.org_id, 'string');
    assert.ok(k.org_id.length > 0);
    assert.match(k.admin_key, /^bwk_[A-Za-z0-9_-]{16,}$/);
    assert.match(k.agent_key, /^bwk_[A-Za-z0-9_-]{16,}$/);
    assert.notEqual(k.admin_key, k.agent_key);
    // C2SP verifier key: name+hex(keyid)+base64(0x01 || 32-byte Ed25519 public key).
    const m = k.public_key.match(/^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/);
    assert.ok(m, `public_key: ${k.public_key}`);
    const raw = Buffer.from(m[3], 'base64');
    assert.equal(raw.length, 33);
    assert.equal(raw[0], 0x01, 'Ed25519 verifier key type byte');
    assert.equal(keyIdOf(k.public_key), m[2]);
});

test('init creates the data dir layout with private modes', () => {
    const d = data.dir;
    assert.equal(fileMode(d), 0o700, 'data dir mode');
    for (const f of ['bulwark.yaml', 'bulwark.db', 'master.key', 'ledger/signing.key',
                     'ledger/origin', 'ledger/log'])
        assert.ok(fs.existsSync(path.join(d, f)), `missing ${f}`);
    assert.equal(fileMode(path.join(d, 'master.key')), 0o600, 'master.key mode');
    assert.equal(fileMode(path.join(d, 'ledger/signing.key')), 0o600, 'signing.key mode');
    assert.ok(fs.statSync(path.join(d, 'ledger')).isDirectory());
    // Nothing under the data dir is readable or writable by group or others.
    for (const f of walk(d))
        assert.equal(fileMode(f) & 0o077 & ~0o044, 0, `${f} is group/other-writable`);
    const db = fs.readFileSync(path.join(d, 'bulwark.db'));
    assert.equal(db.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
    const origin = fs.readFileSync(path.join(d, 'ledger/origin'), 'utf8').trim();
    assert.ok(origin.length > 0, 'empty ledger origin');
    assert.ok(data.keys.public_key.startsWith(origin + '+'),
              `public key name is not the origin ${origin}`);
});

test('the default config init wrote is the documented one', () => {
    const y = fs.readFileSync(path.join(data.dir, 'bulwark.yaml'), 'utf8');
    assert.match(y, /^listen: 127\.0\.0\.1:8080/m);
    assert.match(y, /^\s+url: mock/m);
    assert.match(y, /^\s+max_body_bytes: 4194304/m);
    assert.match(y, /allowed_models: \[gpt-4o-mini, gpt-4o, text-embedding-3-small\]/);
    assert.doesNotMatch(y, /bwk_/, 'config holds a key');
});

test('the keys init printed are stored nowhere under the data dir', () => {
    const secrets = [data.keys.admin_key, data.keys.agent_key];
    // The secret part alone too, in case the prefix is stored separately.
    for (const k of [data.keys.admin_key, data.keys.agent_key]) secrets.push(k.slice(4));
    const files = walk(data.dir);
    assert.ok(files.length >= 6);
    for (const f of files) {
        const b = fs.readFileSync(f);
        for (const s of secrets) {
            assert.equal(b.indexOf(s), -1, `${f} contains a key init printed`);
            assert.equal(b.indexOf(Buffer.from(s, 'utf16le')), -1, `${f} contains a key (UTF-16)`);
        }
    }
});

test('two inits make different keys and logs', async () => {
    const other = await initData(scope);
    for (const k of ['admin_key', 'agent_key', 'public_key', 'org_id'])
        assert.notEqual(other.keys[k], data.keys[k], k);
});

test('init refuses a dir that exists, with exit 1 and one stderr line, touching nothing', async () => {
    const parent = await scope.tmpdir();
    const existing = path.join(parent, 'existing');
    fs.mkdirSync(existing, { mode: 0o755 });
    const r = await run(['init', '--data', existing]);
    assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.equal(r.stdout, '', 'printed keys although it refused');
    assert.equal(r.stderr.trim().split('\n').length, 1, `stderr: ${r.stderr}`);
    assert.deepEqual(fs.readdirSync(existing), [], 'init wrote into an existing dir');
    assert.equal(fileMode(existing), 0o755, 'init changed the mode of an existing dir');

    // Also an existing, already initialised data dir: its keys must survive.
    const before = fs.readFileSync(path.join(data.dir, 'master.key'));
    const r2 = await run(['init', '--data', data.dir]);
    assert.equal(r2.code, 1);
    assert.equal(r2.stdout, '');
    assert.deepEqual(fs.readFileSync(path.join(data.dir, 'master.key')), before);
});

test('init without --data is misuse (exit 2)', async () => {
    const r = await run(['init']);
    assert.equal(r.code, 2, `exit ${r.code}; stderr: ${r.stderr}`);
});

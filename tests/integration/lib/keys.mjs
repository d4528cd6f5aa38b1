// keys.mjs: test-only helpers that add orgs and API keys straight into a SQLite data dir, the
// way `bulwark init` does, for scenarios that need more than init's admin and agent keys
// (reviewers, a second org). The key hash is computed exactly as src/auth/auth.c does:
// pepper = crypto_kdf_derive_from_key(32, id 1, ctx "bwkeyhsh", master key) and
// hash = BLAKE2b-256(key, keyed with the pepper); BLAKE2b (RFC 7693, with libsodium's salt and
// personal parameters) is implemented here because node:crypto has no keyed BLAKE2b.
// Uses the sqlite3 command-line tool (scripts/deps.sh installs it).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const M64 = (1n << 64n) - 1n;
const IV = [
    0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
    0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
const SIGMA = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
const rotr = (x, n) => ((x >> BigInt(n)) | (x << BigInt(64 - n))) & M64;
const le64 = (b, o) => b.readBigUInt64LE(o);

function compress(h, block, t, last) {
    const m = Array.from({ length: 16 }, (_, i) => le64(block, i * 8));
    const v = [...h, ...IV];
    v[12] ^= t & M64;
    v[13] ^= t >> 64n;
    if (last) v[14] ^= M64;
    const G = (a, b, c, d, x, y) => {
        v[a] = (v[a] + v[b] + x) & M64; v[d] = rotr(v[d] ^ v[a], 32);
        v[c] = (v[c] + v[d]) & M64; v[b] = rotr(v[b] ^ v[c], 24);
        v[a] = (v[a] + v[b] + y) & M64; v[d] = rotr(v[d] ^ v[a], 16);
        v[c] = (v[c] + v[d]) & M64; v[b] = rotr(v[b] ^ v[c], 63);
    };
    for (let r = 0; r < 12; r++) {
        const s = SIGMA[r % 10];
        G(0, 4, 8, 12, m[s[0]], m[s[1]]); G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G(2, 6, 10, 14, m[s[4]], m[s[5]]); G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G(0, 5, 10, 15, m[s[8]], m[s[9]]); G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G(2, 7, 8, 13, m[s[12]], m[s[13]]); G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

// BLAKE2b (RFC 7693) with an optional key, 16-byte salt and 16-byte personal.
export function blake2b(msg, outLen, key = Buffer.alloc(0), salt = null, personal = null) {
    const h = [...IV];
    h[0] ^= 0x01010000n ^ (BigInt(key.length) << 8n) ^ BigInt(outLen);
    if (salt) { h[4] ^= le64(salt, 0); h[5] ^= le64(salt, 8); }
    if (personal) { h[6] ^= le64(personal, 0); h[7] ^= le64(personal, 8); }
    let data = Buffer.from(msg);
    if (key.length) data = Buffer.concat([Buffer.concat([key], 128), data]);
    let t = 0n;
    let off = 0;
    while (data.length - off > 128) {
        t += 128n;
        compress(h, data.subarray(off, off + 128), t, false);
        off += 128;
    }
    const rest = data.subarray(off);
    t += BigInt(rest.length);
    compress(h, Buffer.concat([rest], 128), t, true);
    const out = Buffer.alloc(64);
    h.forEach((x, i) => out.writeBigUInt64LE(x, i * 8));
    return out.subarray(0, outLen);
}

// The key-hash pepper of a data dir (libsodium crypto_kdf_derive_from_key, BLAKE2b variant).
export function pepperOf(dir) {
    const master = fs.readFileSync(path.join(dir, 'master.key'));
    const salt = Buffer.alloc(16);
    salt.writeBigUInt64LE(1n, 0); // BW_PEPPER_KDF_ID
    const personal = Buffer.concat([Buffer.from('bwkeyhsh'), Buffer.alloc(8)]);
    return blake2b(Buffer.alloc(0), 32, master, salt, personal);
}

function sqlite(dir, sql) {
    const r = spawnSync('sqlite3', ['-bail', path.join(dir, 'bulwark.db')], {
        input: `PRAGMA busy_timeout = 5000;\n${sql}\n`, encoding: 'utf8', timeout: 15000,
    });
    if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr || r.error}`);
    return r.stdout.trim();
}

const newId = (prefix) => `${prefix}_${crypto.randomBytes(8).toString('hex')}`;
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

// Adds an org; returns its id.
export function addOrg(dir, name) {
    const id = newId('org');
    sqlite(dir, `INSERT INTO orgs(id, name, created_ms) VALUES (${q(id)}, ${q(name)}, ${Date.now()});`);
    return id;
}

// Adds a member; returns its id.
export function addMember(dir, orgId, email, role = 'reviewer') {
    const id = newId('mem');
    sqlite(dir, `INSERT INTO members(id, org_id, email, role, created_ms) VALUES (${q(id)}, ` +
                `${q(orgId)}, ${q(email)}, ${q(role)}, ${Date.now()});`);
    return id;
}

// Adds an API key of the org; returns {id, key} (the key in clear, as init prints it).
export function addKey(dir, { orgId, role, agent = '', memberId = '' }) {
    const key = 'bwk_' + crypto.randomBytes(32).toString('base64url');
    const hash = blake2b(Buffer.from(key), 32, pepperOf(dir)).toString('hex');
    const id = newId('key');
    sqlite(dir, 'INSERT INTO api_keys(id, org_id, role, agent, hash, created_ms, expires_ms,' +
                ' revoked_ms, name, member_id, created_by) VALUES (' +
                `${q(id)}, ${q(orgId)}, ${q(role)}, ${q(agent)}, X'${hash}', ${Date.now()}, 0, 0,` +
                ` '', ${q(memberId)}, 'test');`);
    return { id, key };
}

// Scenario: evidence packs from a real gateway run. Mixed allowed and denied traffic, the
// evidence HTTP endpoints (receipt + C2SP tlog-proof, checkpoint, public key, consistency,
// export), kill -9, then `bulwark export` + `bulwark verify`, and an independent check of the
// pack written here from docs/EVIDENCE.md: ustar members, manifest hashes, Ed25519 signatures
// with @noble/ed25519 (strict: zip215 false), RFC 9162 leaf hashes / inclusion / consistency
// with node:crypto, and each receipt's bytes === canonicalize(JSON.parse(bytes)).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as ed from '@noble/ed25519';
import canonicalize from 'canonicalize';
import {
    Scope, startMock, startGateway, postJson, chatBody, request, run, RECEIPT_ID_RE, keyIdOf,
    waitOutcome,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const sha = (...parts) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
};
const leafHash = (bytes) => sha(Buffer.from([0]), bytes);
const nodeHash = (l, r) => sha(Buffer.from([1]), l, r);

// C2SP verifier key "name+hexid+base64(0x01||pk)" -> {name, keyid, pub}.
function parseVkey(vkey) {
    const m = vkey.match(/^([^+]+)\+([0-9a-f]{8})\+(.+)$/);
    const raw = Buffer.from(m[3], 'base64');
    assert.equal(raw[0], 1);
    const pub = raw.subarray(1);
    const keyid = sha(Buffer.from(m[1]), Buffer.from([0x0a, 0x01]), pub).subarray(0, 4);
    assert.equal(keyid.toString('hex'), m[2]);
    return { name: m[1], keyid, pub };
}

// C2SP signed-note: returns the signed text after checking one signature by key (noble, strict).
async function verifyNote(note, key) {
    const text = Buffer.isBuffer(note) ? note.toString('utf8') : note;
    const cut = text.lastIndexOf('\n\n');
    assert.ok(cut > 0, 'signed note without a blank line');
    const body = text.slice(0, cut + 1);
    let ok = 0;
    for (const line of text.slice(cut + 2).split('\n').filter((l) => l)) {
        const m = line.match(/^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/);
        assert.ok(m, `bad signature line ${line}`);
        const blob = Buffer.from(m[2], 'base64');
        if (m[1] !== key.name || !blob.subarray(0, 4).equals(key.keyid)) continue;
        assert.ok(await ed.verifyAsync(blob.subarray(4), Buffer.from(body, 'utf8'), key.pub,
                                       { zip215: false }), 'Ed25519 signature does not verify');
        ok++;
    }
    assert.equal(ok, 1, 'no signature by the trusted key');
    return body;
}

function parseCheckpoint(body, key) {
    const [origin, size, root, ...rest] = body.slice(0, -1).split('\n');
    assert.equal(origin, key.name);
    assert.equal(rest.length, 0);
    assert.match(size, /^(0|[1-9][0-9]*)$/);
    return { size: Number(size), root: Buffer.from(root, 'base64') };
}

// RFC 9162 2.1.3.2
function rootFromInclusion(index, size, leaf, proof) {
    if (index >= size) throw new Error('index >= size');
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
        if (sn === 0) throw new Error('proof too long');
        if (fn % 2 === 1 || fn === sn) {
            r = nodeHash(p, r);
            if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        } else {
            r = nodeHash(r, p);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error('proof too short');
    return r;
}

// RFC 9162 2.1.4.2
function verifyConsistency(n1, n2, root1, root2, proof) {
    if (n1 === n2) return proof.length === 0 && root1.equals(root2);
    let path = [...proof];
    if ((n1 & (n1 - 1)) === 0) path = [root1, ...path];
    let fn = n1 - 1, sn = n2 - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
        if (sn === 0) return false;
        if (fn % 2 === 1 || fn === sn) {
            fr = nodeHash(c, fr);
            sr = nodeHash(c, sr);
            if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        } else {
            sr = nodeHash(sr, c);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
    }
    return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

// C2SP tlog-proof text -> {index, hashes, note}
function parseTlogProof(text) {
    const lines = text.split('\n');
    assert.equal(lines[0], 'c2sp.org/tlog-proof@v1');
    const m = lines[1].match(/^index (0|[1-9][0-9]*)$/);
    assert.ok(m, 'index line');
    const hashes = [];
    let i = 2;
    for (; lines[i] !== ''; i++) hashes.push(Buffer.from(lines[i], 'base64'));
    return { index: Number(m[1]), hashes, note: lines.slice(i + 1).join('\n') };
}

// Strict ustar reader per docs/EVIDENCE.md: [{name, data}] in order.
function untar(buf) {
    const out = [];
    let off = 0;
    for (;;) {
        const h = buf.subarray(off, off + 512);
        assert.equal(h.length, 512, 'truncated tar');
        if (h.every((b) => b === 0)) {
            assert.equal(buf.length, off + 1024, 'bytes after the end blocks');
            return out;
        }
        const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
        assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\0');
        assert.equal(h.subarray(100, 108).toString('latin1'), '0000644\0');
        assert.equal(h.subarray(136, 148).toString('latin1'), '00000000000\0');
        const size = parseInt(h.subarray(124, 135).toString('latin1'), 8);
        let sum = 0;
        for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
        assert.equal(parseInt(h.subarray(148, 154).toString('latin1'), 8), sum, 'tar checksum');
        out.push({ name, data: buf.subarray(off + 512, off + 512 + size) });
        off += 512 + Math.ceil(size / 512) * 512;
    }
}

let mock, gw, key, vkey;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock, config: { batchWaitUs: 200 } });
    vkey = gw.keys.public_key;
    key = parseVkey(vkey);
});

async function traffic(n) {
    const calls = [];
    for (let i = 0; i < n; i++) {
        calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', `q${i}`),
                            { key: gw.keys.agent_key }));
        if (i % 3 === 0)
            calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('o1-preview', `d${i}`),
                                { key: gw.keys.agent_key }));
    }
    const res = await Promise.all(calls);
    return res.map((r) => {
        const id = r.headers['bulwark-receipt-id'];
        assert.match(String(id), RECEIPT_ID_RE);
        return { id, index: Number(id.split('.')[1]), decision: r.headers['bulwark-decision'] };
    });
}

test('evidence over HTTP, then export + verify after kill -9, checked independently', async () => {
    const acked = await traffic(12);
    assert.ok(acked.some((a) => a.decision === 'deny') && acked.some((a) => a.decision === 'allow'));
    for (const a of acked.filter((x) => x.decision === 'allow')) await waitOutcome(gw.dir, a.index);

    // Public endpoints: the key init printed, and a checkpoint it signed.
    const pk = await request(gw.port, { path: '/api/v1/ledger/public-key' });
    assert.equal(pk.status, 200);
    assert.equal(pk.text.trim(), vkey);
    const cp1 = await request(gw.port, { path: '/api/v1/ledger/checkpoint' });
    assert.equal(cp1.status, 200);
    assert.match(cp1.headers['content-type'], /^text\/plain/);
    const c1 = parseCheckpoint(await verifyNote(cp1.text, key), key);

    // A receipt with its C2SP proof, checked here.
    const auth = { authorization: `Bearer ${gw.keys.agent_key}` };
    const one = acked.find((a) => a.decision === 'deny');
    const rr = await request(gw.port, { path: `/api/v1/receipts/${one.id}`, headers: auth });
    assert.equal(rr.status, 200, rr.text);
    assert.equal(rr.json.id, one.id);
    assert.equal(rr.json.index, one.index);
    const bytes = Buffer.from(rr.json.receipt, 'latin1');
    assert.equal(rr.json.leaf_hash, leafHash(bytes).toString('hex'));
    assert.equal(bytes.toString('latin1'), canonicalize(JSON.parse(rr.json.receipt)));
    const p = parseTlogProof(rr.json.proof);
    assert.equal(p.index, one.index);
    const pc = parseCheckpoint(await verifyNote(p.note, key), key);
    assert.ok(rootFromInclusion(p.index, pc.size, leafHash(bytes), p.hashes).equals(pc.root));

    // Unknown, malformed and unauthenticated lookups.
    const kid = keyIdOf(vkey);
    for (const bad of [`${kid}.999999`, 'nope', `${kid}.01`, `00000000.1`, `${kid}.-1`]) {
        const r = await request(gw.port, { path: `/api/v1/receipts/${bad}`, headers: auth });
        assert.equal(r.status, 404, `${bad}: ${r.status}`);
        assert.equal(r.json.error.code, 'NOT_FOUND');
    }
    assert.equal((await request(gw.port, { path: `/api/v1/receipts/${one.id}` })).status, 401);

    // Consistency between two checkpoints fetched at different times.
    await traffic(5);
    const cp2 = await request(gw.port, { path: '/api/v1/ledger/checkpoint' });
    const c2 = parseCheckpoint(await verifyNote(cp2.text, key), key);
    assert.ok(c2.size > c1.size);
    const cr = await request(gw.port, {
        path: `/api/v1/ledger/consistency?from=${c1.size}&to=${c2.size}`, headers: auth });
    assert.equal(cr.status, 200, cr.text);
    assert.ok(verifyConsistency(c1.size, c2.size, c1.root, c2.root,
                                cr.json.proof.map((h) => Buffer.from(h, 'base64'))));
    for (const q of ['from=0&to=1', `from=2&to=1`, `from=1&to=${c2.size + 1000}`, 'from=x&to=1'])
        assert.equal((await request(gw.port, { path: `/api/v1/ledger/consistency?${q}`,
                                               headers: auth })).status, 400, q);

    // Export over HTTP: admin only; the pack verifies.
    const admin = { authorization: `Bearer ${gw.keys.admin_key}` };
    assert.equal((await request(gw.port, { method: 'POST', path: '/api/v1/evidence/export',
                                           headers: auth })).status, 403);
    const hx = await request(gw.port, { method: 'POST', path: '/api/v1/evidence/export',
                                        headers: admin });
    assert.equal(hx.status, 200, hx.text);
    assert.match(hx.headers['content-type'], /application\/x-tar/);
    const parent = await scope.tmpdir('bw-it-pack-');
    const httpPack = path.join(parent, 'http.tar');
    fs.writeFileSync(httpPack, hx.body);
    const hv = await run(['verify', '--trust', vkey, httpPack, '--json']);
    assert.equal(hv.code, 0, hv.stdout + hv.stderr);
    assert.match(JSON.parse(hv.stdout).scope, /^org /);

    // More traffic, then kill -9 mid-run: every acknowledged receipt must be in the export.
    const inflight = traffic(6);
    const late = await inflight;
    gw.proc.kill('SIGKILL');
    await gw.proc.exited;
    const pack = path.join(parent, 'cli.tar');
    const ex = await run(['export', '--data', gw.dir, '--out', pack]);
    assert.equal(ex.code, 0, ex.stderr);
    const again = path.join(parent, 'cli2.tar');
    assert.equal((await run(['export', '--data', gw.dir, '--out', again])).code, 0);
    assert.ok(fs.readFileSync(pack).equals(fs.readFileSync(again)), 'export is not deterministic');
    const v = await run(['verify', '--trust', vkey, pack, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const rep = JSON.parse(v.stdout);
    assert.equal(rep.ok, true);
    for (const c of rep.checks.filter((x) => x.name !== 'receipt-signatures'))
        assert.equal(c.status, 'pass', `${c.name}: ${c.detail}`);
    // A different key is not trusted.
    const other = vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    assert.equal((await run(['verify', '--trust', other, pack])).code, 2);

    // Independent check of the pack.
    const members = untar(fs.readFileSync(pack));
    const byName = new Map(members.map((m) => [m.name, m.data]));
    const manifest = byName.get('manifest.txt').toString('latin1');
    const stmt = await verifyNote(byName.get('manifest.sig'), key);
    const fields = Object.fromEntries(stmt.trim().split('\n').slice(1).map((l) => {
        const i = l.indexOf(' ');
        return [l.slice(0, i), l.slice(i + 1)];
    }));
    assert.equal(fields.origin, key.name);
    assert.equal(fields.scope, 'all');
    assert.equal(fields.manifest, sha(Buffer.from(manifest, 'latin1')).toString('hex'));
    const listed = members.slice(0, -2).map((m) => `${sha(m.data).toString('hex')}  ${m.name}\n`);
    assert.equal(listed.join(''), manifest);
    const cps = members.filter((m) => m.name.startsWith('checkpoints/'));
    const heads = [];
    for (const c of cps) heads.push(parseCheckpoint(await verifyNote(c.data, key), key));
    for (let i = 1; i < heads.length; i++) {
        const a = heads[i - 1], b = heads[i];
        const name = `consistency/${String(a.size).padStart(20, '0')}-${String(b.size).padStart(20, '0')}.proof`;
        const proof = byName.get(name).toString('latin1').split('\n').filter((l) => l)
            .map((l) => Buffer.from(l, 'base64'));
        assert.ok(verifyConsistency(a.size, b.size, a.root, b.root, proof), name);
    }
    const fin = heads.at(-1);
    assert.equal(String(fin.size), fields.size);
    const receiptsIn = members.filter((m) => m.name.startsWith('receipts/'));
    assert.equal(receiptsIn.length, fin.size - Number(fields.first));
    for (const m of receiptsIn) {
        const idx = Number(m.name.slice(9, 29));
        const text = m.data.toString('latin1');
        assert.equal(text, canonicalize(JSON.parse(text)), `${m.name} is not canonical`);
        assert.equal(JSON.parse(text).predicate.log.index, idx);
        const pr = parseTlogProof(byName.get(`proofs/${m.name.slice(9, 29)}.tlog-proof`)
            .toString('utf8'));
        assert.equal(pr.index, idx);
        assert.equal(pr.note, cps.at(-1).data.toString('utf8'));
        assert.ok(rootFromInclusion(idx, fin.size, leafHash(m.data), pr.hashes).equals(fin.root),
                  `${m.name}: inclusion proof`);
    }
    for (const a of [...acked, ...late])
        assert.ok(byName.has(`receipts/${String(a.index).padStart(20, '0')}.json`),
                  `acknowledged receipt ${a.id} is missing from the pack after kill -9`);
    // The policy in force without a policy file is the org's part of the config (its
    // allowed_models), kept in the database: not the operator's config file (EVIDENCE.md 9.2).
    const pol = members.filter((m) => m.name.startsWith('policies/'));
    assert.equal(pol.length, 1);
    assert.equal(sha(pol[0].data).toString('hex'), pol[0].name.slice(9, 73));
    assert.match(pol[0].data.toString(), /^# bulwark\.dev\/config-models\/v1\n[^]*allowed_models:\n  - "gpt-4o-mini"\n/);
    assert.ok(!pol[0].data.equals(fs.readFileSync(gw.configPath)));
});

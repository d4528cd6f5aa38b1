// evidence_check: an independent reader of Bulwark's evidence, written from docs/EVIDENCE.md
// (the same checks evidence_pack.test.mjs makes inline): C2SP verifier keys and signed notes
// (Ed25519 with @noble/ed25519, strict), RFC 9162 leaf hashes and inclusion proofs with
// node:crypto, C2SP tlog-proof text, and the pack's ustar container.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as ed from '@noble/ed25519';

export const sha = (...parts) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
};
export const leafHash = (bytes) => sha(Buffer.from([0]), bytes);
const nodeHash = (l, r) => sha(Buffer.from([1]), l, r);

// C2SP verifier key "name+hexid+base64(0x01||pk)" -> {name, keyid, pub}.
export function parseVkey(vkey) {
    const m = vkey.match(/^([^+]+)\+([0-9a-f]{8})\+(.+)$/);
    const raw = Buffer.from(m[3], 'base64');
    assert.equal(raw[0], 1);
    const pub = raw.subarray(1);
    const keyid = sha(Buffer.from(m[1]), Buffer.from([0x0a, 0x01]), pub).subarray(0, 4);
    assert.equal(keyid.toString('hex'), m[2]);
    return { name: m[1], keyid, pub };
}

// C2SP signed-note: the signed text, after checking exactly one signature by key.
export async function verifyNote(note, key) {
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

// A checkpoint body -> {size, root}.
export function parseCheckpoint(body, key) {
    const [origin, size, root, ...rest] = body.slice(0, -1).split('\n');
    assert.equal(origin, key.name);
    assert.equal(rest.length, 0);
    assert.match(size, /^(0|[1-9][0-9]*)$/);
    return { size: Number(size), root: Buffer.from(root, 'base64') };
}

// RFC 9162 2.1.3.2: the root an inclusion proof leads to.
export function rootFromInclusion(index, size, leaf, proof) {
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

// C2SP tlog-proof text -> {index, hashes, note}
export function parseTlogProof(text) {
    const lines = text.split('\n');
    assert.equal(lines[0], 'c2sp.org/tlog-proof@v1');
    const m = lines[1].match(/^index (0|[1-9][0-9]*)$/);
    assert.ok(m, 'index line');
    const hashes = [];
    let i = 2;
    for (; lines[i] !== ''; i++) hashes.push(Buffer.from(lines[i], 'base64'));
    return { index: Number(m[1]), hashes, note: lines.slice(i + 1).join('\n') };
}

// A ustar archive -> [{name, data}] in order (strict enough for packs).
export function untar(buf) {
    const out = [];
    let off = 0;
    for (;;) {
        const h = buf.subarray(off, off + 512);
        assert.equal(h.length, 512, 'truncated tar');
        if (h.every((b) => b === 0)) return out;
        const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
        assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\0');
        const size = parseInt(h.subarray(124, 135).toString('latin1'), 8);
        out.push({ name, data: buf.subarray(off + 512, off + 512 + size) });
        off += 512 + Math.ceil(size / 512) * 512;
    }
}

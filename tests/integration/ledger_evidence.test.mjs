// Scenario: the evidence log after real traffic, checked by an independent verifier written
// here from docs/EVIDENCE.md (frames, RFC 6962 tree, C2SP signed-note checkpoints, Ed25519
// under the public key `init` printed). Then kill -9: every receipt id acknowledged to a client
// must be in the log under a signed checkpoint, and the log reopens and continues.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
    Scope, startMock, startGateway, postJson, chatBody, readLedger, RECEIPT_ID_RE, keyIdOf,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const sha = (...parts) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
};

// frame = type (1) || length (u32 BE) || payload || sum (32). Returns {frames, rest} where rest
// is the byte count after the last complete frame.
// A zero type byte ends the frames: from there on the file is preallocated space, all zero
// bytes (EVIDENCE.md 5, ledger.preallocate_bytes). `zeros` is its length.
function parseFrames(buf) {
    const frames = [];
    let off = 0;
    while (off + 5 <= buf.length) {
        if (buf[off] === 0 && buf.subarray(off).every((b) => b === 0))
            return { frames, rest: 0, zeros: buf.length - off };
        const type = String.fromCharCode(buf[off]);
        const len = buf.readUInt32BE(off + 1);
        if (off + 5 + len + 32 > buf.length) break;
        const payload = buf.subarray(off + 5, off + 5 + len);
        const sum = buf.subarray(off + 5 + len, off + 5 + len + 32);
        frames.push({ type, payload, sum, offset: off });
        off += 5 + len + 32;
    }
    return { frames, rest: buf.length - off, zeros: 0 };
}

// RFC 6962 2.1: MTH over leaf hashes.
function mth(leaves) {
    if (leaves.length === 0) return sha(Buffer.alloc(0));
    if (leaves.length === 1) return leaves[0];
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function ed25519Key(vkey) {
    const m = vkey.match(/^([^+]+)\+([0-9a-f]{8})\+(.+)$/);
    const raw = Buffer.from(m[3], 'base64');
    assert.equal(raw[0], 1);
    const pub = raw.subarray(1);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]);
    const keyid = sha(Buffer.from(m[1]), Buffer.from([0x0a, 0x01]), pub).subarray(0, 4);
    assert.equal(keyid.toString('hex'), m[2], 'the verifier key id does not match its key');
    return { name: m[1], keyid, key: crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' }) };
}

// Verifies the whole log; returns {receipts: [{index, bytes, obj}], checkpoints: [{size, root}]}.
// After kill -9 the last commit may be torn (a short pwrite): trailing bytes and receipts after
// the last checkpoint are then allowed (never acknowledged; recovery truncates them).
function verifyLog(buf, vkey, origin, { tornTailOk = true } = {}) {
    const k = ed25519Key(vkey);
    assert.equal(k.name, origin, 'the key name is not the log origin');
    const { frames, rest } = parseFrames(buf);
    if (!tornTailOk) assert.equal(rest, 0, `${rest} trailing bytes after the last complete frame`);
    const leaves = [];
    const receipts = [];
    const checkpoints = [];
    let prev = '';
    for (const f of frames) {
        const after = prev;
        prev = f.type;
        if (f.type === 'S') {
            // ledger.sign_each: the DSSE signature of the receipt right before it (EVIDENCE.md 5, 11)
            assert.equal(after, 'R', `S frame at ${f.offset} does not follow a receipt`);
            assert.equal(f.payload.length, 64);
            assert.ok(sha(f.payload).equals(f.sum), `S frame at ${f.offset}: bad sum`);
        } else if (f.type === 'R') {
            assert.ok(f.payload.length >= 1 && f.payload.length <= 4096);
            const leaf = sha(Buffer.from([0]), f.payload);
            assert.ok(leaf.equals(f.sum), `R frame at ${f.offset}: sum is not the leaf hash`);
            const obj = JSON.parse(f.payload.toString('latin1'));
            assert.equal(obj.predicate.log.index, leaves.length, 'receipt index is not its leaf position');
            assert.equal(obj.predicate.log.origin, origin);
            assert.ok(/^[\x20-\x7e]+$/.test(f.payload.toString('latin1')), 'receipt not printable ASCII');
            receipts.push({ index: leaves.length, bytes: f.payload, obj, leaf });
            leaves.push(leaf);
        } else if (f.type === 'C') {
            assert.ok(sha(f.payload).equals(f.sum), `C frame at ${f.offset}: bad sum`);
            const text = f.payload.toString('utf8');
            const cut = text.lastIndexOf('\n\n');
            assert.ok(cut > 0, 'signed note without a blank line');
            const body = text.slice(0, cut + 1);
            const [o, sizeStr, rootB64, ...ext] = body.slice(0, -1).split('\n');
            assert.equal(ext.length, 0, 'unexpected extension lines');
            assert.equal(o, origin);
            assert.match(sizeStr, /^(0|[1-9][0-9]*)$/);
            const size = Number(sizeStr);
            assert.equal(size, leaves.length, 'checkpoint size is not the receipts before it');
            const root = Buffer.from(rootB64, 'base64');
            assert.ok(root.equals(mth(leaves)), `checkpoint ${size}: root is not the RFC 6962 root`);
            const sigLines = text.slice(cut + 2).split('\n').filter((l) => l !== '');
            let verified = 0;
            for (const line of sigLines) {
                const m = line.match(/^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/);
                assert.ok(m, `bad signature line ${JSON.stringify(line)}`);
                const blob = Buffer.from(m[2], 'base64');
                if (m[1] !== k.name || !blob.subarray(0, 4).equals(k.keyid)) continue;
                assert.equal(blob.length, 68);
                assert.ok(crypto.verify(null, Buffer.from(body), k.key, blob.subarray(4)),
                          `checkpoint ${size}: Ed25519 signature does not verify`);
                verified++;
            }
            assert.equal(verified, 1, `checkpoint ${size}: no signature by the log key`);
            checkpoints.push({ size, root });
        } else {
            assert.fail(`unknown frame type ${JSON.stringify(f.type)} at ${f.offset}`);
        }
    }
    // The file reads as (R* C)*: nothing after the last checkpoint but a torn commit.
    if (frames.length && !tornTailOk)
        assert.equal(frames.at(-1).type, 'C', 'receipts after the last checkpoint');
    return { receipts, checkpoints, leaves };
}

let mock, gw, origin;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, {
        upstream: mock,
        config: { orgs: { default: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'mock-error'] } },
    });
    origin = fs.readFileSync(path.join(gw.dir, 'ledger', 'origin'), 'utf8').trim();
});

test('receipts from mixed traffic verify; acknowledged receipts survive kill -9', async () => {
    const key = gw.keys.agent_key;
    const calls = [];
    for (let i = 0; i < 24; i++) calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', `q${i}`), { key }));
    for (let i = 0; i < 4; i++) calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('o1-preview', `d${i}`), { key }));
    calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o', 's', { stream: true }), { key }));
    calls.push(postJson(gw.port, '/v1/chat/completions', chatBody('mock-error'), { key }));
    calls.push(postJson(gw.port, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'e' }, { key }));
    const results = await Promise.all(calls);
    const acked = [];
    for (const r of results) {
        const id = r.headers['bulwark-receipt-id'];
        assert.match(String(id), RECEIPT_ID_RE, `${r.status} ${r.text.slice(0, 200)}`);
        assert.equal(id.split('.')[0], keyIdOf(gw.keys.public_key));
        acked.push({ index: Number(id.split('.')[1]), decision: r.headers['bulwark-decision'],
                     status: r.status });
    }
    assert.equal(new Set(acked.map((a) => a.index)).size, acked.length, 'two calls share a receipt id');

    gw.proc.kill('SIGKILL');
    await gw.proc.exited;

    const { receipts, checkpoints } = verifyLog(readLedger(gw.dir), gw.keys.public_key, origin);
    assert.ok(checkpoints.length >= 1);
    // By default the log keeps zero-filled space ahead of its data (ledger.preallocate_bytes).
    assert.ok(parseFrames(readLedger(gw.dir)).zeros > 0, 'no preallocated runway');
    const signedSize = checkpoints.at(-1).size;
    for (const a of acked) {
        assert.ok(a.index < signedSize, `acknowledged receipt ${a.index} is not under a checkpoint (size ${signedSize})`);
        const p = receipts[a.index].obj.predicate;
        assert.equal(p.kind, 'decision');
        assert.equal(p.decision, a.decision);
        if (a.decision === 'deny') assert.equal(p.reason, 'MODEL_NOT_ALLOWED');
    }
    assert.equal(acked.filter((a) => a.decision === 'deny').length, 4);
    // Every outcome receipt links to a decision receipt earlier in the log.
    const byLeaf = new Map(receipts.map((r) => [r.leaf.toString('hex'), r]));
    for (const r of receipts.filter((x) => x.obj.predicate.kind === 'outcome')) {
        const parent = byLeaf.get(r.obj.predicate.parent_leaf_hash);
        assert.ok(parent, `outcome ${r.index} has no parent in the log`);
        assert.equal(parent.obj.predicate.kind, 'decision');
        assert.ok(parent.index < r.index);
    }

    // The log reopens after the crash and continues from the signed size.
    const again = await startGateway(scope, { upstream: mock, data: gw.data });
    const r = await postJson(again.port, '/v1/chat/completions', chatBody(), { key });
    assert.equal(r.status, 200, r.text);
    const idx = Number(r.headers['bulwark-receipt-id'].split('.')[1]);
    assert.ok(idx >= signedSize, `new receipt ${idx} reuses an index below ${signedSize}`);
    again.proc.kill('SIGKILL');
    await again.proc.exited;
    const after2 = verifyLog(readLedger(gw.dir), gw.keys.public_key, origin);
    assert.ok(idx < after2.checkpoints.at(-1).size, 'the acknowledged receipt is not signed');
    assert.equal(after2.receipts[idx].obj.predicate.kind, 'decision');
    // Nothing that was signed before the crash changed.
    const before = checkpoints.at(-1);
    assert.ok(after2.receipts.length >= before.size);
    assert.ok(mth(after2.leaves.slice(0, before.size)).equals(before.root),
              'the tree signed before the crash was rewritten');
});

// Scenario: per-receipt DSSE signatures (ledger.sign_each: true). A gateway run with signing on;
// GET /api/v1/receipts/{id} returns the envelope, whose signature is checked here with
// @noble/ed25519 (strict) over a PAE computed here from the DSSE spec, under the public key init
// printed; `bulwark export` + `bulwark verify` pass with "receipt-signatures"; an envelope with
// one changed signature character is rejected by bulwark verify by that check's name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as ed from '@noble/ed25519';
import {
    Scope, initData, configYaml, postJson, chatBody, request, run, RECEIPT_ID_RE,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const PAYLOAD_TYPE = 'application/vnd.bulwark.receipt+json';

// DSSE protocol.md: PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
// LEN = ASCII decimal byte length.
function pae(type, body) {
    const t = Buffer.from(type, 'utf8');
    return Buffer.concat([
        Buffer.from(`DSSEv1 ${t.length} `, 'latin1'), t,
        Buffer.from(` ${body.length} `, 'latin1'), body,
    ]);
}

function parseVkey(vkey) {
    const m = vkey.match(/^([^+]+)\+([0-9a-f]{8})\+(.+)$/);
    const raw = Buffer.from(m[3], 'base64');
    assert.equal(raw[0], 1);
    const pub = raw.subarray(1);
    const keyid = crypto.createHash('sha256').update(m[1]).update(Buffer.from([0x0a, 0x01]))
        .update(pub).digest().subarray(0, 4);
    assert.equal(keyid.toString('hex'), m[2]);
    return { name: m[1], keyidHex: m[2], pub };
}

// Standard ustar member walk: [{name, off, size}] (the pack format is checked elsewhere).
function members(buf) {
    const out = [];
    for (let off = 0; ;) {
        const h = buf.subarray(off, off + 512);
        if (h.every((b) => b === 0)) return out;
        const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
        const size = parseInt(h.subarray(124, 135).toString('latin1'), 8);
        out.push({ name, off: off + 512, size });
        off += 512 + Math.ceil(size / 512) * 512;
    }
}

test('sign_each: DSSE envelopes over HTTP verify independently; packs carry and check them',
    async () => {
        const data = await initData(scope);
        const configPath = path.join(data.dir, 'test-config.yaml');
        const yaml = configYaml({ upstream: 'mock' }).replace('ledger:\n', 'ledger:\n  sign_each: true\n');
        assert.match(yaml, /sign_each: true/);
        await fsp.writeFile(configPath, yaml);
        const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath,
                                  '--listen', '127.0.0.1:0'],
                                 { env: { BULWARK_UPSTREAM_KEY: 'sk-test' }, name: 'bulwark serve' });
        const port = Number((await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
        const key = parseVkey(data.keys.public_key);

        const calls = [];
        for (let i = 0; i < 6; i++)
            calls.push(postJson(port, '/v1/chat/completions',
                                chatBody(i % 3 === 0 ? 'o1-preview' : 'gpt-4o-mini', `q${i}`),
                                { key: data.keys.agent_key }));
        const res = await Promise.all(calls);
        const ids = res.map((r) => r.headers['bulwark-receipt-id']);
        for (const id of ids) assert.match(String(id), RECEIPT_ID_RE);
        assert.ok(res.some((r) => r.headers['bulwark-decision'] === 'deny'));

        const auth = { authorization: `Bearer ${data.keys.agent_key}` };
        for (const id of ids) {
            const rr = await request(port, { path: `/api/v1/receipts/${id}`, headers: auth });
            assert.equal(rr.status, 200, rr.text);
            const env = rr.json.dsse;
            assert.ok(env, 'no DSSE envelope although sign_each is on');
            assert.deepEqual(Object.keys(env), ['payload', 'payloadType', 'signatures']);
            assert.equal(env.payloadType, PAYLOAD_TYPE);
            const body = Buffer.from(env.payload, 'base64');
            assert.equal(body.toString('base64'), env.payload, 'payload is not canonical base64');
            assert.ok(body.equals(Buffer.from(rr.json.receipt, 'latin1')),
                      'envelope payload is not the receipt bytes');
            assert.equal(env.signatures.length, 1);
            assert.equal(env.signatures[0].keyid, key.keyidHex);
            const sig = Buffer.from(env.signatures[0].sig, 'base64');
            assert.equal(sig.length, 64);
            assert.ok(await ed.verifyAsync(sig, pae(PAYLOAD_TYPE, body), key.pub, { zip215: false }),
                      `DSSE signature of ${id} does not verify`);
            // The same signature must not verify over the raw receipt (PAE binds the type).
            assert.equal(await ed.verifyAsync(sig, body, key.pub, { zip215: false }), false);
        }

        const dir = await scope.tmpdir('bw-it-dsse-');
        const pack = path.join(dir, 'pack.tar');
        const ex = await run(['export', '--data', data.dir, '--out', pack]);
        assert.equal(ex.code, 0, ex.stderr);
        const v = await run(['verify', '--trust', data.keys.public_key, pack, '--json']);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        const rep = JSON.parse(v.stdout);
        const sigCheck = rep.checks.find((c) => c.name === 'receipt-signatures');
        assert.equal(sigCheck.status, 'pass', JSON.stringify(sigCheck));
        const buf = fs.readFileSync(pack);
        const envs = members(buf).filter((m) => m.name.startsWith('envelopes/'));
        assert.equal(envs.length, rep.receipts, 'one envelope per receipt');

        // One signature character changed in place (same length: the container stays valid).
        const e = envs[0];
        const text = buf.subarray(e.off, e.off + e.size).toString('latin1');
        const at = text.indexOf('"sig":"') + 7 + 10;
        const bad = Buffer.from(buf);
        bad[e.off + at] = text[at] === 'A' ? 0x42 : 0x41;
        const badPack = path.join(dir, 'bad.tar');
        fs.writeFileSync(badPack, bad);
        const vb = await run(['verify', '--trust', data.keys.public_key, badPack]);
        assert.equal(vb.code, 1, vb.stdout);
        assert.match(vb.stdout, /^fail +receipt-signatures: envelopes\/\d{20}\.dsse\.json: /m);
        assert.match(vb.stdout, /^FAILED$/m);
    });

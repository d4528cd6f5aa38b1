// MCP OAuth resource server (src/oauth/, docs/MCP.md "OAuth"): the RFC 9728 metadata route of
// the real gateway, its JWKS fetch through the egress guard, a JWKS URL on a private address
// refused at start, and (through the test driver build/tools/oauth_verify, which runs the real
// verifier and refresher from tests/tools/oauth_verify.c) tokens signed here with node:crypto,
// a key rotation picked up on an unknown kid, and a random-kid flood that costs the key server
// at most the bounded refetches (requests counted at the key server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import { REPO, Scope, initData, request, run, startGatewayWithYaml } from './lib/harness.mjs';

const TOOL = path.join(process.env.BULWARK_TOOLS || path.join(REPO, 'build/tools'), 'oauth_verify');
const PUBLIC = 'https://gw.example.com';
const scope = new Scope();
let jwksServer;
let jwksPort;
let issuer;
const hits = { '/gw/jwks': 0, '/tool/jwks': 0, '/slow/jwks': 0 };
const k1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const k2 = crypto.generateKeyPairSync('ed25519');
const jwk = (k, kid, alg) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });

const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function sign(key, header, claims) {
    const input = `${b64u(header)}.${b64u(claims)}`;
    const sig = header.alg === 'EdDSA'
        ? crypto.sign(null, Buffer.from(input), key.privateKey)
        : crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (o = {}) => ({ iss: issuer, aud: `${PUBLIC}/mcp/everything`, sub: 'alice',
                              org: 'acme', scope: 'mcp', iat: now(), exp: now() + 300, ...o });

function yaml(jwksPath, allow) {
    return ['mcp:',
            '  servers:',
            '    - name: everything',
            '      url: http://127.0.0.1:9/mcp',
            '  oauth:',
            `    issuer: ${issuer}`,
            `    public_url: ${PUBLIC}`,
            `    jwks_url: http://127.0.0.1:${jwksPort}${jwksPath}`,
            '    scopes: [mcp]',
            '    jwks_min_refetch_s: 2',
            'egress:',
            `  allow: [${allow.map((a) => JSON.stringify(a)).join(', ')}]`, ''].join('\n');
}

// Runs the driver with the given command lines; resolves its output lines.
function driver(configPath, lines, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
        const child = spawn(TOOL, [configPath], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`oauth_verify: timeout; stderr ${err}`));
        }, timeoutMs);
        child.stdout.on('data', (d) => { out += d; });
        child.stderr.on('data', (d) => { err += d; });
        child.on('exit', (code) => {
            clearTimeout(timer);
            if (code !== 0) reject(new Error(`oauth_verify exited ${code}: ${err}`));
            else resolve({ lines: out.trim().split('\n'), stderr: err });
        });
        child.stdin.end(lines.join('\n') + '\n');
    });
}

before(async () => {
    jwksServer = http.createServer((req, res) => {
        if (!(req.url in hits)) {
            res.writeHead(404).end();
            return;
        }
        hits[req.url] += 1;
        if (req.url === '/slow/jwks') return; // never answers (a stuck IdP)
        // The first answer has k1 only; later ones add k2 (a key rotation at the IdP).
        const keys = [jwk(k1, 'k1', 'ES256')];
        if (hits[req.url] > 1) keys.push(jwk(k2, 'k2', 'EdDSA'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys }));
    });
    await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksPort = jwksServer.address().port;
    issuer = `http://127.0.0.1:${jwksPort}`;
});

after(async () => {
    await scope.cleanup();
    await new Promise((r) => jwksServer.close(r));
});

test('PRM served per configured server; JWKS fetched through the egress guard', async () => {
    const gw = await startGatewayWithYaml(scope, yaml('/gw/jwks', ['127.0.0.1/32']));
    const r = await request(gw.port, { path: '/.well-known/oauth-protected-resource/mcp/everything' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /application\/json/);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.deepEqual(r.json, {
        resource: `${PUBLIC}/mcp/everything`,
        authorization_servers: [issuer],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
    });
    for (const p of ['/.well-known/oauth-protected-resource/mcp/other',
                     '/.well-known/oauth-protected-resource/mcp/everything/',
                     '/.well-known/oauth-protected-resource/mcp/EVERYTHING',
                     '/.well-known/oauth-protected-resource/mcp/',
                     '/.well-known/oauth-protected-resource/mcp/../mcp/everything',
                     '/.well-known/oauth-protected-resource']) {
        const n = await request(gw.port, { path: p });
        assert.equal(n.status, 404, `${p}: ${n.status}`);
    }
    const post = await request(gw.port, { method: 'POST', body: '{}',
        path: '/.well-known/oauth-protected-resource/mcp/everything' });
    assert.equal(post.status, 405);
    // the gateway's refresher fetched the key set at start
    for (let i = 0; i < 100 && hits['/gw/jwks'] === 0; i++) await new Promise((s) => setTimeout(s, 50));
    assert.equal(hits['/gw/jwks'], 1);
});

test('a JWKS URL on a private address not in egress.allow is refused at start', async () => {
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'private-jwks.yaml');
    const text = yaml('/gw/jwks', ['127.0.0.1:9']).replace(`http://127.0.0.1:${jwksPort}/gw/jwks`,
                                                          'http://10.0.0.7/jwks');
    await fsp.writeFile(cfg, `listen: 127.0.0.1:0\n${text}`);
    const r = await run(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /mcp\.oauth\.jwks_url: refused by the egress guard/);
    // loopback without an allowlist entry for it: refused as well
    await fsp.writeFile(cfg, `listen: 127.0.0.1:0\n${yaml('/gw/jwks', ['127.0.0.1:9'])}`);
    const l = await run(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    assert.notEqual(l.code, 0);
    assert.match(l.stderr, /mcp\.oauth\.jwks_url: refused by the egress guard/);
});

test('tokens verified against the fetched keys; a kid flood costs at most the bounded refetches',
     async () => {
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'tool.yaml');
    await fsp.writeFile(cfg, `listen: 127.0.0.1:0\n${yaml('/tool/jwks', [`127.0.0.1:${jwksPort}`, '127.0.0.1:9'])}`);
    const good = sign(k1, { alg: 'ES256', kid: 'k1', typ: 'at+jwt' }, claims());
    const rotated = sign(k2, { alg: 'EdDSA', kid: 'k2' }, claims());
    const wrongAud = sign(k1, { alg: 'ES256', kid: 'k1' }, claims({ aud: `${PUBLIC}/mcp/other` }));
    const expired = sign(k1, { alg: 'ES256', kid: 'k1' }, claims({ exp: now() - 600 }));
    const noScope = sign(k1, { alg: 'ES256', kid: 'k1' }, claims({ scope: 'openid' }));
    const { lines } = await driver(cfg, [
        `wait_keys everything ${good} 10000`,
        `verify other ${good}`, // the audience is per server
        `verify everything ${wrongAud}`,
        `verify everything ${expired}`,
        `verify everything ${noScope}`,
        `verify everything ${rotated}`, // k2 is not in the first key set
        'flood everything 2000',
        'fetches',
        'sleep 3500', // past jwks_min_refetch_s: one refetch for all the unknown kids
        `verify everything ${rotated}`,
        'flood everything 2000',
        'fetches',
    ]);
    assert.deepEqual(lines.slice(0, 7), ['ok', 'audience', 'audience', 'expired',
                                         'insufficient_scope', 'kid_unknown', 'kid_unknown']);
    assert.equal(lines[7], '1'); // 2001 unknown kids inside the interval: no extra fetch yet
    assert.equal(lines[8], 'slept');
    assert.equal(lines[9], 'ok'); // the rotation was picked up by the bounded refetch
    assert.equal(lines[10], 'kid_unknown');
    const fetches = Number(lines[11]);
    assert.ok(fetches >= 2 && fetches <= 3, `fetches ${fetches}`);
    assert.equal(hits['/tool/jwks'], fetches);
});

test('stopping does not wait for a stuck key server', async () => {
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'slow.yaml');
    await fsp.writeFile(cfg, `listen: 127.0.0.1:0\n${yaml('/slow/jwks', [`127.0.0.1:${jwksPort}`, '127.0.0.1:9'])}`);
    const good = sign(k1, { alg: 'ES256', kid: 'k1' }, claims());
    const t0 = Date.now();
    // the fetch hangs: tokens get no_keys (503), never a wait on the network
    const { lines } = await driver(cfg, ['sleep 300', `verify everything ${good}`, 'fetches']);
    assert.deepEqual(lines, ['slept', 'no_keys', '1']);
    assert.equal(hits['/slow/jwks'], 1);
    // the driver's exit joined the refresher well before the 10 s fetch timeout
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

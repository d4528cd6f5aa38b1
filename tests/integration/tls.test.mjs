// Scenario: TLS termination (listen_tls). A test CA and server certificates are made here with
// the openssl CLI. Over https: curl with --cacert (HTTP/1.1), the official openai SDK (chat and
// a streamed chat) trusting the CA through NODE_EXTRA_CA_CERTS; TLS 1.0/1.1 and non-AEAD TLS 1.2
// suites refused by the server; the strict HTTP guards still refuse smuggling-style requests on
// the decrypted bytes; SIGHUP swaps in a new certificate for new connections while a stream
// that began before it completes, and a broken new pair is refused with the old one kept; a
// world-readable or encrypted key and a plain listener on a non-loopback address are refused
// at start, naming the key or the setting and never showing key material.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { Scope, initData, configYaml, run, runCommand, sleep, waitFor, sseData,
         RECEIPT_ID_RE } from './lib/harness.mjs';

const scope = new Scope();
const servers = [];
after(async () => {
    for (const s of servers) s.closeAllConnections?.();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await scope.cleanup();
});

const openssl = (args, opts) => runCommand('openssl', args, opts);

let pki; // {dir, ca}
let gw; // {proc, port, tlsPort, dir, keys, configPath}
let upstream; // crafted upstream: {url, release()}

// ---- the test PKI ----

async function makeCa(dir) {
    const key = path.join(dir, 'ca.key');
    const ca = path.join(dir, 'ca.pem');
    const r = await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                             '-nodes', '-keyout', key, '-out', ca, '-days', '2',
                             '-subj', '/CN=Bulwark Test CA']);
    assert.equal(r.code, 0, r.stderr);
    return { key, ca };
}

// A server key and a certificate for 127.0.0.1 / localhost with the given serial (hex), signed
// by the test CA, written to certPath / keyPath (key mode 0600).
async function makeServerCert(dir, ca, serial, certPath, keyPath) {
    const csr = path.join(dir, `srv-${serial}.csr`);
    const ext = path.join(dir, 'ext.cnf');
    await fsp.writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' +
                             'extendedKeyUsage=serverAuth\n');
    let r = await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                           '-keyout', keyPath, '-out', csr, '-subj', '/CN=localhost']);
    assert.equal(r.code, 0, r.stderr);
    await fsp.chmod(keyPath, 0o600);
    r = await openssl(['x509', '-req', '-in', csr, '-CA', ca.ca, '-CAkey', ca.key,
                       '-set_serial', `0x${serial}`, '-days', '2', '-extfile', ext, '-out', certPath]);
    assert.equal(r.code, 0, r.stderr);
}

// ---- a crafted upstream whose "slow" stream waits for the test to release it ----

async function startUpstream() {
    let release;
    let gate = new Promise((r) => { release = r; });
    const srv = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', async () => {
            const q = JSON.parse(body);
            const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
            if (!q.stream) {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1,
                                         model: q.model, usage, choices: [{ index: 0,
                                         message: { role: 'assistant', content: 'hello there' },
                                         finish_reason: 'stop' }] }));
                return;
            }
            const chunk = (delta, finish, u) => `data: ${JSON.stringify({
                id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model: q.model,
                choices: u ? [] : [{ index: 0, delta, finish_reason: finish }],
                ...(u ? { usage: u } : {}) })}\n\n`;
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write(chunk({ role: 'assistant', content: 'first' }, null));
            if (q.messages?.[0]?.content === 'slow') await gate; // held until the test says
            res.write(chunk({ content: ' second' }, null));
            res.write(chunk({}, 'stop'));
            res.write(chunk(null, null, usage));
            res.end('data: [DONE]\n\n');
        });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    servers.push(srv);
    return {
        url: `http://127.0.0.1:${srv.address().port}/v1`,
        release: () => {
            release();
            gate = new Promise((r) => { release = r; });
        },
    };
}

// ---- the gateway ----

function tlsYaml(cert, key, address = '127.0.0.1:0') {
    return `listen_tls:\n  address: ${address}\n  cert_file: ${cert}\n  key_file: ${key}\n`;
}

async function writeConfig(data, extraYaml, o = {}) {
    const configPath = path.join(data.dir, 'test-config.yaml');
    let yaml = configYaml({ upstream: o.upstream ?? 'mock', apiKeyEnv: null,
                            clientTimeoutS: o.clientTimeoutS ?? 30,
                            orgs: { default: ['gpt-4o-mini'] } });
    if (o.listen) yaml = yaml.replace(/^listen: .*$/m, `listen: ${o.listen}`);
    await fsp.writeFile(configPath, yaml + extraYaml);
    return configPath;
}

// Starts serve; resolves {proc, port (plain or null), tlsPort}.
async function serve(data, configPath, { listenFlag = '127.0.0.1:0' } = {}) {
    const args = ['serve', '--data', data.dir, '--config', configPath];
    if (listenFlag) args.push('--listen', listenFlag);
    const proc = scope.spawn(args, { name: 'bulwark serve' });
    const t = await proc.waitStderr(/bulwark listening with TLS on 127\.0\.0\.1:(\d+) \(serial (\w+)/,
                                    15000);
    let port = null;
    if (listenFlag) port = Number((await proc.waitStderr(/bulwark listening on [\d.]+:(\d+)/))[1]);
    return { proc, port, tlsPort: Number(t[1]), serial: t[2] };
}

// The certificate a new TLS connection is given: its serial (upper-case hex).
function peerSerial(port) {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(pki.ca.ca),
                                servername: 'localhost' }, () => {
            const serial = s.getPeerCertificate().serialNumber;
            s.end();
            resolve(serial);
        });
        s.on('error', reject);
    });
}

// Raw bytes over TLS; resolves with everything the server sent before it closed.
function rawTls(port, chunks, { gapMs = 300, timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
        let out = '';
        const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(pki.ca.ca),
                                servername: 'localhost' }, async () => {
            for (const c of chunks) {
                if (s.destroyed) break;
                s.write(c);
                await sleep(gapMs);
            }
        });
        const timer = setTimeout(() => { s.destroy(); resolve(out); }, timeoutMs);
        s.setEncoding('utf8');
        s.on('data', (d) => { out += d; });
        s.on('close', () => { clearTimeout(timer); resolve(out); });
        s.on('error', (e) => {
            clearTimeout(timer);
            if (out) resolve(out);
            else reject(e);
        });
    });
}

before(async () => {
    const dir = await scope.tmpdir('bw-it-tls-');
    pki = { dir, ca: await makeCa(dir) };
    upstream = await startUpstream();
    const data = await initData(scope);
    await fsp.mkdir(path.join(data.dir, 'tls'));
    await makeServerCert(dir, pki.ca, '1001', path.join(data.dir, 'tls/cert.pem'),
                         path.join(data.dir, 'tls/key.pem'));
    // relative paths: resolved against the config's folder
    const configPath = await writeConfig(data, tlsYaml('tls/cert.pem', 'tls/key.pem'),
                                         { upstream: upstream.url });
    gw = { ...(await serve(data, configPath)), dir: data.dir, keys: data.keys, configPath };
    assert.equal(gw.serial, '1001');
});

test('curl --cacert: /healthz and a chat completion over HTTP/1.1 with TLS', async () => {
    const url = `https://127.0.0.1:${gw.tlsPort}`;
    let r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca, '--http1.1', '-w',
                                      '\n%{http_version} %{ssl_verify_result}', `${url}/healthz`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"status":"ok"}\n1.1 0');
    r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca, '-D', '-', '-H',
                                  `authorization: Bearer ${gw.keys.agent_key}`, '-H',
                                  'content-type: application/json', '--data',
                                  JSON.stringify({ model: 'gpt-4o-mini',
                                                   messages: [{ role: 'user', content: 'hi' }] }),
                                  `${url}/v1/chat/completions`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200/);
    assert.match(r.stdout, /bulwark-receipt-id: [0-9a-f]{8}\.\d+/i);
    assert.match(r.stdout, /"content":"hello there"/);
    // without the CA the certificate is not trusted: TLS is really in the way
    r = await runCommand('curl', ['-sS', `${url}/healthz`]);
    assert.equal(r.code, 60, r.stdout + r.stderr);
    // and the plain listener stays plain HTTP on loopback
    r = await runCommand('curl', ['-sS', `http://127.0.0.1:${gw.port}/healthz`]);
    assert.equal(r.stdout, '{"status":"ok"}');
});

test('TLS 1.0 and 1.1 are refused by the server; TLS 1.2 only with ECDHE and an AEAD', async () => {
    // @SECLEVEL=0 so the client really offers the old protocol and suites: the refusal seen is
    // the server's alert, not the client's own policy
    for (const v of ['-tls1', '-tls1_1']) {
        const r = await openssl(['s_client', '-connect', `127.0.0.1:${gw.tlsPort}`, v,
                                 '-cipher', 'DEFAULT:@SECLEVEL=0'], { timeoutMs: 10000 });
        assert.notEqual(r.code, 0, `${v} handshake succeeded:\n${r.stdout}`);
        assert.match(r.stdout + r.stderr, /alert protocol version/, `${v}: ${r.stderr}`);
    }
    let r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca, '--tls-max', '1.1',
                                      `https://127.0.0.1:${gw.tlsPort}/healthz`]);
    assert.equal(r.code, 35, r.stdout + r.stderr);
    for (const c of ['AES128-SHA', 'AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-SHA']) {
        r = await openssl(['s_client', '-connect', `127.0.0.1:${gw.tlsPort}`, '-tls1_2',
                           '-cipher', `${c}:@SECLEVEL=0`], { timeoutMs: 10000 });
        assert.notEqual(r.code, 0, `${c} accepted:\n${r.stdout}`);
        assert.match(r.stdout + r.stderr, /alert handshake failure/, `${c}: ${r.stderr}`);
    }
    r = await openssl(['s_client', '-connect', `127.0.0.1:${gw.tlsPort}`, '-tls1_2',
                       '-CAfile', pki.ca.ca], { timeoutMs: 10000 });
    assert.match(r.stdout, /Cipher is ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)/);
    assert.match(r.stdout, /Compression: NONE/);
    r = await openssl(['s_client', '-connect', `127.0.0.1:${gw.tlsPort}`, '-CAfile', pki.ca.ca],
                      { timeoutMs: 10000 });
    assert.match(r.stdout, /New, TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)/);
    assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
});

// The SDK runs in a child process whose Node trusts the test CA (NODE_EXTRA_CA_CERTS), as an
// operator's client would; it prints what it got as JSON.
async function sdkRun(extraEnv) {
    const script = `
        const { default: OpenAI } = await import(${JSON.stringify(import.meta.resolve('openai'))});
        const client = new OpenAI({ baseURL: process.env.GW_URL, apiKey: process.env.GW_KEY,
                                    maxRetries: 0, timeout: 15000 });
        const out = {};
        try {
            const { data, response } = await client.chat.completions
                .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
                .withResponse();
            out.chat = data.choices[0].message.content;
            out.receipt = response.headers.get('bulwark-receipt-id');
            const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true,
                messages: [{ role: 'user', content: 'hi' }] });
            out.streamed = '';
            for await (const c of stream) out.streamed += c.choices[0]?.delta?.content ?? '';
        } catch (e) {
            const why = [];
            for (let c = e; c && why.length < 6; c = c.cause) why.push(c.code || c.message);
            out.error = why.join(' <- ');
        }
        console.log(JSON.stringify(out));`;
    const r = await runCommand(process.execPath, ['--input-type=module', '-e', script], {
        env: { GW_URL: `https://localhost:${gw.tlsPort}/v1`, GW_KEY: gw.keys.agent_key,
               ...extraEnv },
        timeoutMs: 30000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('the official openai SDK over https with a custom CA: chat and a streamed chat', async () => {
    const out = await sdkRun({ NODE_EXTRA_CA_CERTS: pki.ca.ca });
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.chat, 'hello there');
    assert.match(String(out.receipt), RECEIPT_ID_RE);
    assert.equal(out.streamed, 'first second');
    // the same client without the CA refuses the gateway's certificate
    const untrusted = await sdkRun({});
    assert.equal(untrusted.chat, undefined);
    assert.match(untrusted.error, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed|certificate/i);
});

test('the strict HTTP guards read the decrypted bytes: smuggling-style requests over TLS are refused', async () => {
    const ok = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const cases = [
        // two Content-Length values: a front end and evhttp would frame the body differently
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
        // CL.TE
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        // "Transfer-Encoding : chunked" (space before the colon)
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
        // a second request hidden behind a bare LF
        `${ok}GET /healthz HTTP/1.1\nHost: x\r\n\r\n`,
    ];
    for (const c of cases) {
        const out = await rawTls(gw.tlsPort, [c]);
        const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
        assert.ok(statuses.length >= 1, `no answer to ${JSON.stringify(c)}: ${out}`);
        assert.equal(statuses.at(-1), 400, out);
        assert.match(out, /"code":"INVALID_REQUEST"/);
        assert.match(out, /Connection: close/i);
        assert.equal(statuses.filter((s) => s === 200).length, c.startsWith(ok) ? 1 : 0, out);
    }
    // a malformed chunk found while evhttp is already reading the body: the refusal is written
    // through the TLS session (not as plaintext on the socket) and the connection ends
    const out = await rawTls(gw.tlsPort, [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
        '0x1\r\nz\r\n0\r\n\r\n']);
    assert.match(out, /^HTTP\/1\.1 400 Bad Request\r\n/, out);
    assert.match(out, /"message":"the chunked body is malformed"/);
});

test('SIGHUP: new connections get the new certificate, a stream begun before it completes', async () => {
    const ca = fs.readFileSync(pki.ca.ca);
    // a streamed call that holds at the upstream until released
    const streamed = new Promise((resolve, reject) => {
        const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true,
                                      messages: [{ role: 'user', content: 'slow' }] });
        const req = https.request({ host: '127.0.0.1', port: gw.tlsPort, method: 'POST',
                                    path: '/v1/chat/completions', ca, servername: 'localhost',
                                    agent: false,
                                    headers: { authorization: `Bearer ${gw.keys.agent_key}`,
                                               'content-type': 'application/json',
                                               'content-length': Buffer.byteLength(body) } },
        (res) => {
            const serial = res.socket.getPeerCertificate().serialNumber;
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
                text += d;
                if (text.includes('first')) firstSeen();
            });
            res.on('end', () => resolve({ status: res.statusCode, serial, text }));
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
    });
    let firstSeen;
    const started = new Promise((r) => { firstSeen = r; });
    await started; // the stream is open and under way on the old certificate

    const cert = path.join(gw.dir, 'tls/cert.pem');
    const key = path.join(gw.dir, 'tls/key.pem');
    // a new key and certificate (serial 2002), each replaced atomically
    await makeServerCert(pki.dir, pki.ca, '2002', `${cert}.new`, `${key}.new`);
    await fsp.rename(`${key}.new`, key);
    await fsp.rename(`${cert}.new`, cert);
    const before = (gw.proc.stderr.match(/TLS certificate reloaded/g) || []).length;
    gw.proc.kill('SIGHUP');
    await waitFor(() => (gw.proc.stderr.match(/TLS certificate reloaded: serial 2002/g) || [])
        .length > before, { what: 'the reload log line' });
    assert.equal(await peerSerial(gw.tlsPort), '2002');

    upstream.release();
    const r = await streamed;
    assert.equal(r.status, 200);
    assert.equal(r.serial, '1001'); // the old connection kept its session
    const deltas = sseData(r.text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d))
        .map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(deltas, 'first second');
    assert.match(r.text, /data: \[DONE\]/);
});

test('SIGHUP with a broken certificate, a mismatched key or a world-readable key keeps the old one', async () => {
    const cert = path.join(gw.dir, 'tls/cert.pem');
    const key = path.join(gw.dir, 'tls/key.pem');
    const current = await peerSerial(gw.tlsPort);
    const goodCert = await fsp.readFile(cert);
    const goodKey = await fsp.readFile(key);
    const other = await scope.tmpdir('bw-it-tls-other-');
    await makeServerCert(other, pki.ca, '3003', path.join(other, 'c.pem'), path.join(other, 'k.pem'));
    const breakages = [
        ['garbage certificate', async () => fsp.writeFile(cert, '-----BEGIN CERTIFICATE-----\nnope\n')],
        ['a key of another certificate', async () => fsp.copyFile(path.join(other, 'k.pem'), key)],
        ['a world-readable key', async () => fsp.chmod(key, 0o644)],
    ];
    for (const [what, breakIt] of breakages) {
        await breakIt();
        const n = (gw.proc.stderr.match(/TLS certificate reload refused/g) || []).length;
        gw.proc.kill('SIGHUP');
        await waitFor(() => (gw.proc.stderr.match(/TLS certificate reload refused/g) || []).length > n,
                      { what: `the refusal of ${what}` });
        assert.equal(await peerSerial(gw.tlsPort), current, what);
        const r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca,
                                            `https://127.0.0.1:${gw.tlsPort}/healthz`]);
        assert.equal(r.stdout, '{"status":"ok"}', what);
        // restore
        await fsp.writeFile(cert, goodCert);
        await fsp.writeFile(key, goodKey);
        await fsp.chmod(key, 0o600);
    }
    const keyText = goodKey.toString().split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of keyText) assert.ok(!gw.proc.stderr.includes(line), 'key material logged');
    assert.ok(!/PRIVATE KEY/.test(gw.proc.stderr));
});

test('SIGHUP reloads racing new connections on every worker: every request is served', async () => {
    const cert = path.join(gw.dir, 'tls/cert.pem');
    const key = path.join(gw.dir, 'tls/key.pem');
    const pairs = [];
    for (const serial of ['8008', '9009']) {
        const c = path.join(pki.dir, `race-${serial}.pem`);
        const k = path.join(pki.dir, `race-${serial}.key`);
        await makeServerCert(pki.dir, pki.ca, serial, c, k);
        pairs.push({ serial, cert: await fsp.readFile(c), key: await fsp.readFile(k) });
    }
    const ca = fs.readFileSync(pki.ca.ca);
    const get = () => new Promise((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port: gw.tlsPort, path: '/healthz', ca,
                                servername: 'localhost', agent: false }, (res) => {
            const serial = res.socket.getPeerCertificate().serialNumber;
            let body = '';
            res.on('data', (d) => { body += d; });
            res.on('end', () => resolve({ status: res.statusCode, body, serial }));
        });
        req.on('error', reject);
    });
    let stop = false;
    const seen = new Set();
    let served = 0;
    const client = async () => {
        while (!stop) {
            const r = await get();
            assert.equal(r.status, 200);
            assert.equal(r.body, '{"status":"ok"}');
            seen.add(r.serial);
            served++;
        }
    };
    const clients = Array.from({ length: 4 }, client);
    const reloads = (gw.proc.stderr.match(/TLS certificate reloaded/g) || []).length;
    for (let i = 0; i < 8; i++) {
        const p = pairs[i % 2];
        await fsp.writeFile(`${key}.new`, p.key, { mode: 0o600 });
        await fsp.rename(`${key}.new`, key);
        await fsp.writeFile(`${cert}.new`, p.cert);
        await fsp.rename(`${cert}.new`, cert);
        gw.proc.kill('SIGHUP');
        // one reload at a time: signals do not queue, and the next pair's renames must not
        // land while this one is read
        await waitFor(() => (gw.proc.stderr.match(/TLS certificate reloaded/g) || []).length >=
                            reloads + i + 1, { what: `reload ${i + 1}`, timeoutMs: 15000 });
        await sleep(100);
    }
    stop = true;
    await Promise.all(clients);
    assert.ok(served >= 8, `${served} requests served`);
    assert.ok(seen.has('8008') || seen.has('9009'), [...seen].join(','));
    assert.equal(await peerSerial(gw.tlsPort), '9009');
    assert.ok(gw.proc.alive);
});

// ---- refused at start ----

async function startRefused(extraYaml, o = {}) {
    const data = await initData(scope);
    const configPath = await writeConfig(data, extraYaml, o);
    const args = ['serve', '--data', data.dir, '--config', configPath];
    if (o.listenFlag) args.push('--listen', o.listenFlag);
    return run(args, { timeoutMs: 15000 });
}

test('a world-readable, group-writable or encrypted key is refused at start, naming the key', async () => {
    const dir = await scope.tmpdir('bw-it-tls-start-');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    await makeServerCert(dir, pki.ca, '4004', cert, key);
    const keyLines = (await fsp.readFile(key, 'utf8')).split('\n')
        .filter((l) => l && !l.startsWith('-----'));
    for (const mode of [0o644, 0o604, 0o660]) {
        await fsp.chmod(key, mode);
        const r = await startRefused(tlsYaml(cert, key));
        assert.notEqual(r.code, 0, `mode ${mode.toString(8)} accepted`);
        assert.match(r.stderr, /listen_tls\.key_file .*key\.pem has mode 0\d+/);
        for (const line of keyLines) assert.ok(!r.stderr.includes(line), 'key material in error');
    }
    await fsp.chmod(key, 0o600);
    const enc = path.join(dir, 'enc.pem');
    let r = await openssl(['pkey', '-in', key, '-aes256', '-passout', 'pass:secret-pass', '-out', enc]);
    assert.equal(r.code, 0, r.stderr);
    await fsp.chmod(enc, 0o600);
    r = await startRefused(tlsYaml(cert, enc));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /listen_tls\.key_file .*enc\.pem holds no usable private key/);
    // an expired certificate is refused too
    const old = path.join(dir, 'old.pem');
    r = await openssl(['req', '-x509', '-key', key, '-out', old, '-subj', '/CN=old',
                       '-not_before', '20200101000000Z', '-not_after', '20200201000000Z']);
    if (r.code === 0) { // openssl >= 3.4 only; 3.0 has no -not_after
        r = await startRefused(tlsYaml(old, key));
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /expired/);
    }
});

test('plain HTTP on a non-loopback address is refused unless allow_plain_http: true', async () => {
    let r = await startRefused('', { listenFlag: '0.0.0.0:0' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /listen 0\.0\.0\.0:0 is plain HTTP on a non-loopback address.*allow_plain_http/);
    r = await startRefused('', { listen: '0.0.0.0:0' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /allow_plain_http/);
    // TLS beside it does not excuse a non-loopback plain listener
    const dir = await scope.tmpdir('bw-it-tls-plain-');
    await makeServerCert(dir, pki.ca, '5005', path.join(dir, 'c.pem'), path.join(dir, 'k.pem'));
    r = await startRefused(tlsYaml(path.join(dir, 'c.pem'), path.join(dir, 'k.pem')),
                           { listenFlag: '0.0.0.0:0' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /allow_plain_http/);
    // the explicit opt-in starts
    const data = await initData(scope);
    const configPath = await writeConfig(data, 'allow_plain_http: true\n', { listen: '0.0.0.0:0' });
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath],
                             { name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 0\.0\.0\.0:(\d+)/, 15000);
    const h = await runCommand('curl', ['-sS', `http://127.0.0.1:${m[1]}/healthz`]);
    assert.equal(h.stdout, '{"status":"ok"}');
    await proc.stop();
});

test('listen: off serves TLS only', async () => {
    const data = await initData(scope);
    await makeServerCert(pki.dir, pki.ca, '6006', path.join(data.dir, 'c.pem'),
                         path.join(data.dir, 'k.pem'));
    const configPath = await writeConfig(data, tlsYaml('c.pem', 'k.pem'), { listen: 'off' });
    const s = await serve(data, configPath, { listenFlag: null });
    assert.equal(s.serial, '6006');
    await sleep(200);
    assert.doesNotMatch(s.proc.stderr, /bulwark listening on/);
    const r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca,
                                        `https://127.0.0.1:${s.tlsPort}/healthz`]);
    assert.equal(r.stdout, '{"status":"ok"}');
    await s.proc.stop();
    assert.equal(s.proc.exitCode, 0);
});


test('a trickled handshake is cut at client_timeout_s, though every byte re-arms the idle timer', async () => {
    const data = await initData(scope);
    await makeServerCert(pki.dir, pki.ca, '7007', path.join(data.dir, 'c.pem'),
                         path.join(data.dir, 'k.pem'));
    const configPath = await writeConfig(data, tlsYaml('c.pem', 'k.pem'), { clientTimeoutS: 2 });
    const s = await serve(data, configPath);
    // a ClientHello record header, then its body one byte every 400 ms (well inside the idle
    // timeout each time)
    const sock = net.connect(s.tlsPort, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const t0 = Date.now();
    let closedAt = null;
    sock.on('close', () => { closedAt = Date.now(); });
    sock.on('error', () => {});
    sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    while (closedAt === null && Date.now() - t0 < 12000) {
        await sleep(400);
        if (!sock.destroyed) sock.write(Buffer.from([0x01]));
    }
    assert.ok(closedAt !== null, 'the connection was still open after 12 s of trickling');
    assert.ok(closedAt - t0 < 6000, `cut after ${closedAt - t0} ms`);
    // a normal client is unaffected
    const r = await runCommand('curl', ['-sS', '--cacert', pki.ca.ca,
                                        `https://127.0.0.1:${s.tlsPort}/healthz`]);
    assert.equal(r.stdout, '{"status":"ok"}');
    await s.proc.stop();
});

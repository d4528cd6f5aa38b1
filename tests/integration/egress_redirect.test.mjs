// bulwark egress fetch and redirects: libcurl never follows a Location itself; each hop is
// resolved against the base with libcurl's URL API and re-checked. A test server on 127.0.0.1
// (allowlisted by HOST:PORT) answers 302 to blocked places; the blocked hop is never dialled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { run } from './lib/harness.mjs';

let server;
let port;
const hits = [];

before(async () => {
    server = http.createServer((req, res) => {
        hits.push(req.url);
        const to = {
            '/to-private': 'http://10.0.0.1/',
            '/to-metadata': 'http://169.254.169.254/latest/meta-data/',
            '/to-localhost': `http://localhost:${port}/ok`,
            '/to-other-port': `http://127.0.0.1:${port + 1}/ok`,
            '/to-hex': 'http://0x7f.1/',
            '/to-file': 'file:///etc/passwd',
            '/relative': '/ok',
            '/loop': '/loop',
        }[req.url];
        if (to) {
            res.writeHead(302, { location: to });
            res.end('moved');
        } else if (req.url === '/ok') {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('hello from the allowed server');
        } else if (req.url === '/big') {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('x'.repeat(5000));
        } else {
            res.writeHead(404);
            res.end();
        }
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
});
after(() => new Promise((r) => server.close(r)));

const fetch = (p, ...extra) => run(['egress', 'fetch', `http://127.0.0.1:${port}${p}`, '--allow',
                                    `127.0.0.1:${port}`, ...extra]);

test('an allowlisted server is fetched; relative redirects are followed', async () => {
    const r = await fetch('/relative');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from the allowed server');
    assert.match(r.stderr, /HTTP 200/);
});

test('without the allowlist entry the loopback server is refused before any request', async () => {
    hits.length = 0;
    const r = await run(['egress', 'fetch', `http://127.0.0.1:${port}/ok`]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^block: 127\.0\.0\.1: loopback/);
    assert.deepEqual(hits, []);
});

test('a redirect to a blocked place is refused and never dialled', async () => {
    const cases = [['/to-private', /10\.0\.0\.1: private-use/],
                   ['/to-metadata', /metadata/],
                   ['/to-localhost', /localhost: single-label/],
                   ['/to-other-port', /127\.0\.0\.1: loopback/],
                   ['/to-hex', /canonical/],
                   ['/to-file', /http and https/]];
    for (const [p, re] of cases) {
        hits.length = 0;
        const r = await fetch(p);
        assert.equal(r.code, 3, `${p}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /^block: redirect refused: /, p);
        assert.match(r.stdout, re, p);
        assert.deepEqual(hits, [p], 'only the first hop reached the server');
    }
});

test('redirect loops stop at --max-redirects', async () => {
    hits.length = 0;
    const r = await fetch('/loop', '--max-redirects', '3');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /more than 3 redirects/);
    assert.equal(hits.length, 4);
});

test('the response body cap holds', async () => {
    const r = await fetch('/big', '--max-bytes', '1000');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /larger than 1000 bytes/);
    assert.equal(r.stdout, '');
    const ok = await fetch('/big', '--max-bytes', '5000');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.length, 5000);
});

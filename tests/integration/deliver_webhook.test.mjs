// Outbound delivery (src/deliver/) through the egress guard, against a receiver on 127.0.0.1.
// The test driver build/tools/deliver_post (tests/tools/deliver_post.c) formats an event and
// calls bw_deliver_post; the receiver here verifies Standard Webhooks signatures with the
// official `standardwebhooks` package. Shows: blocked with an empty allowlist (nothing reaches
// the receiver), delivered once 127.0.0.1/32 is allowed, the signature verifies as a receiver
// would check it, redirects to blocked places are refused and never dialled, proxies from the
// environment are ignored, Slack and Discord bodies have their documented shapes, and no
// secret (signing secret, token in a Slack/Discord URL path) appears in any output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { REPO, runCommand } from './lib/harness.mjs';

const TOOL = path.join(process.env.BULWARK_TOOLS || path.join(REPO, 'build/tools'), 'deliver_post');
const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const CANARY = `CANARY${crypto.randomBytes(12).toString('hex')}`; // a Slack/Discord URL token

let server;
let port;
const hits = []; // every request the receiver saw: {path, headers, body, verified}

const readBody = (req) => new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
});

function verify(secret, body, headers) {
    try {
        new Webhook(secret).verify(body, headers);
        return true;
    } catch {
        return false;
    }
}

before(async () => {
    server = http.createServer(async (req, res) => {
        const body = await readBody(req);
        const hit = { path: req.url, method: req.method, headers: req.headers, body };
        hits.push(hit);
        const redirects = {
            '/to-private': [307, 'http://10.0.0.1/hook'],
            '/to-metadata': [308, 'http://169.254.169.254/latest/meta-data/'],
            '/to-localhost': [307, `http://localhost:${port}/hook`],
            '/to-other-port': [307, `http://127.0.0.1:${port + 1}/hook`],
            '/to-hook': [307, '/hook'],
            '/to-hook-302': [302, `http://127.0.0.1:${port}/hook`],
            '/see-other': [303, '/hook'],
            '/loop': [307, '/loop'],
        };
        if (redirects[req.url]) {
            const [code, location] = redirects[req.url];
            res.writeHead(code, { location });
            res.end('moved');
            return;
        }
        if (req.url.startsWith('/hook')) {
            const secret = req.url === '/hook-other-secret' ? OTHER_SECRET : SECRET;
            hit.verified = verify(secret, body, req.headers);
            res.writeHead(hit.verified ? 204 : 401);
            res.end();
        } else if (req.url.startsWith('/slack/')) {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('ok');
        } else if (req.url.startsWith('/discord/')) {
            res.writeHead(204);
            res.end();
        } else if (req.url === '/fail-503') {
            res.writeHead(503);
            res.end();
        } else if (req.url === '/big') {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('x'.repeat(200000));
        } else {
            res.writeHead(404);
            res.end();
        }
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
});
after(() => new Promise((r) => server.close(r)));

// Runs the driver; returns its parsed result line (and raw output for secret scans).
async function deliver(kind, p, { allow = ['127.0.0.1/32'], args = [], env = {} } = {}) {
    const argv = ['--kind', kind, '--url', `http://127.0.0.1:${port}${p}`];
    for (const a of allow) argv.push('--allow', a);
    const r = await runCommand(TOOL, [...argv, ...args],
                               { env: { DELIVER_TEST_SECRET: SECRET, ...env } });
    assert.equal(r.code, 0, `deliver_post failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    const raw = r.stdout + r.stderr;
    for (const s of [SECRET, SECRET.slice(6), CANARY])
        assert.ok(!raw.includes(s), 'a secret appeared in the output');
    return out;
}

test('(a) an empty allowlist blocks delivery to 127.0.0.1; the receiver sees nothing', async () => {
    hits.length = 0;
    const r = await deliver('webhook', '/hook', { allow: [] });
    assert.equal(r.result, 'denied');
    assert.equal(r.blocked, true);
    assert.equal(r.retryable, false);
    assert.equal(r.hops, 0);
    assert.match(r.why, /^blocked: 127\.0\.0\.1: loopback/);
    // Slack: the token in the URL path never appears in the reason
    const s = await deliver('slack', `/slack/T000/B000/${CANARY}`, { allow: [] });
    assert.equal(s.result, 'denied');
    assert.deepEqual(hits, []);
});

test('(b, c) allowed by 127.0.0.1/32: delivered, and standardwebhooks verifies it', async () => {
    hits.length = 0;
    const ts = Math.floor(Date.now() / 1000);
    const r = await deliver('webhook', '/hook', {
        args: ['--type', 'review.created', '--data', '{"review_id":"rev_1","n":2}',
               '--msg-id', 'msg_test_1', '--timestamp', String(ts)],
    });
    assert.equal(r.result, 'ok', r.why);
    assert.equal(r.status, 204);
    assert.equal(r.hops, 1);
    assert.equal(hits.length, 1);
    const h = hits[0];
    assert.equal(h.method, 'POST');
    assert.equal(h.verified, true, 'standardwebhooks refused the signature');
    assert.equal(h.headers['webhook-id'], 'msg_test_1');
    assert.equal(h.headers['webhook-timestamp'], String(ts));
    assert.match(h.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.equal(h.headers['content-type'], 'application/json');
    const body = JSON.parse(h.body);
    assert.equal(body.type, 'review.created');
    assert.match(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(body.data, { review_id: 'rev_1', n: 2 });
    // the same payload is refused by a receiver holding another secret
    assert.equal(verify(OTHER_SECRET, h.body, h.headers), false);
    // and tampering is caught by the package
    assert.equal(verify(SECRET, h.body.replace('rev_1', 'rev_2'), h.headers), false);
});

test('a receiver that refuses the signature is a non-retryable failure', async () => {
    hits.length = 0;
    const r = await deliver('webhook', '/hook-other-secret');
    assert.equal(r.result, 'upstream error');
    assert.equal(r.status, 401);
    assert.equal(r.retryable, false);
    assert.equal(hits[0].verified, false);
    const f = await deliver('webhook', '/fail-503');
    assert.equal(f.status, 503);
    assert.equal(f.retryable, true);
});

test('(d) a redirect from the allowed receiver to a blocked place is refused, never dialled',
     async () => {
    const cases = [['/to-private', /10\.0\.0\.1: private-use/],
                   ['/to-metadata', /metadata/],
                   ['/to-localhost', /localhost/]];
    for (const [p, re] of cases) {
        hits.length = 0;
        const r = await deliver('webhook', p);
        assert.equal(r.result, 'denied', `${p}: ${JSON.stringify(r)}`);
        assert.equal(r.blocked, true);
        assert.match(r.why, /^redirect refused: /);
        assert.match(r.why, re, p);
        assert.deepEqual(hits.map((x) => x.path), [p], 'only the first hop reached a server');
    }
    // allowed by HOST:PORT for the receiver's port only: another port on 127.0.0.1 is refused
    hits.length = 0;
    const r = await deliver('webhook', '/to-other-port', { allow: [`127.0.0.1:${port}`] });
    assert.equal(r.result, 'denied');
    assert.match(r.why, /127\.0\.0\.1/);
    assert.deepEqual(hits.map((x) => x.path), ['/to-other-port']);
});

test('allowed redirects re-send the same signed POST; 303 and loops are not followed', async () => {
    for (const p of ['/to-hook', '/to-hook-302']) {
        hits.length = 0;
        const r = await deliver('webhook', p);
        assert.equal(r.result, 'ok', r.why);
        assert.equal(r.hops, 2);
        assert.deepEqual(hits.map((x) => [x.path, x.method]), [[p, 'POST'], ['/hook', 'POST']]);
        assert.equal(hits[1].verified, true);
        assert.equal(hits[1].headers['webhook-id'], hits[0].headers['webhook-id']);
    }
    hits.length = 0;
    const s = await deliver('webhook', '/see-other');
    assert.equal(s.result, 'upstream error');
    assert.equal(s.status, 303);
    assert.deepEqual(hits.map((x) => x.path), ['/see-other']);
    hits.length = 0;
    const l = await deliver('webhook', '/loop', { args: ['--max-redirects', '2'] });
    assert.equal(l.result, 'upstream error');
    assert.match(l.why, /more than 2 redirects/);
    assert.equal(hits.length, 3);
});

test('proxies from the environment are ignored', async () => {
    hits.length = 0;
    const dead = 'http://127.0.0.1:1';
    const r = await deliver('webhook', '/hook', {
        env: { http_proxy: dead, HTTP_PROXY: dead, https_proxy: dead, ALL_PROXY: dead },
    });
    assert.equal(r.result, 'ok', r.why);
    assert.equal(hits.length, 1);
});

test('a response body over the cap still counts as delivered when the status is 2xx', async () => {
    const r = await deliver('webhook', '/big', { args: ['--max-response', '1000'] });
    assert.equal(r.result, 'ok', r.why);
    assert.equal(r.status, 200);
});

test('Slack and Discord: documented body shapes, mentions neutralised, no signature', async () => {
    hits.length = 0;
    const text = 'Review <!channel> & <https://evil.example|click> @everyone';
    const s = await deliver('slack', `/slack/T000/B000/${CANARY}`, { args: ['--text', text] });
    assert.equal(s.result, 'ok', s.why);
    assert.equal(s.status, 200);
    const sb = JSON.parse(hits[0].body);
    assert.deepEqual(sb, {
        text: 'Review &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; @everyone',
    });
    assert.equal(hits[0].headers['webhook-signature'], undefined);

    const d = await deliver('discord', `/discord/123/${CANARY}`, { args: ['--text', text] });
    assert.equal(d.result, 'ok', d.why);
    assert.equal(d.status, 204);
    const db = JSON.parse(hits[1].body);
    assert.deepEqual(db, { content: text, allowed_mentions: { parse: [] } });
    assert.equal(hits[1].headers['webhook-signature'], undefined);
});

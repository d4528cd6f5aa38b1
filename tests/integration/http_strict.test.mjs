// Scenario: strict HTTP/1.1 framing (docs/API.md "HTTP rules"). Every ambiguous request head
// (two Content-Lengths, "Transfer-Encoding : chunked", obs-fold, bare LF, NUL or other controls,
// repeated Host or Authorization, a bad field name, a request target not in origin-form, a
// malformed chunked body or trailers) is refused with one JSON 4xx answer, and nothing the
// client sent after the refused part is read: a request smuggled behind it never reaches the
// upstream or the ledger. A Bearer credential with anything after the key is 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, rawConnect, postJson, assertHealthy, sleep, readLedger,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock });
    key = gw.keys.agent_key;
});

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const chatHead = (extra, { auth = true } = {}) =>
    'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    (auth ? `Authorization: Bearer ${key}\r\n` : '') +
    'Content-Type: application/json\r\n' + extra;
// A complete, valid request: the payload an attacker smuggles behind an ambiguous one.
const smuggled = () => chatHead(`Content-Length: ${BODY.length}\r\n\r\n`) + BODY;

// Sends raw bytes on one connection; waits for the close (or 3 s). Returns every response's
// status in order, the first response's JSON body and whether the server closed.
async function raw(bytes) {
    const c = await rawConnect(gw.port);
    c.sock.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'));
    await Promise.race([c.closed, sleep(3000)]);
    c.sock.destroy();
    const text = c.data.toString('latin1');
    const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
    let json;
    const start = text.indexOf('\r\n\r\n');
    if (start >= 0) {
        const rest = text.slice(start + 4);
        const end = rest.indexOf('}}');
        try {
            json = JSON.parse(rest.slice(0, end + 2));
        } catch {
            json = undefined;
        }
    }
    return { statuses, json, text, closed: c.closedAt !== null };
}

// What reached the upstream and the ledger.
async function sideEffects() {
    return { upstream: (await mock.stats()).requests, ledger: readLedger(gw.dir).length };
}

async function assertRefused(bytes, status, what) {
    const before0 = await sideEffects();
    const r = await raw(bytes);
    assert.deepEqual(r.statuses, [status], `${what}: ${JSON.stringify(r.text.slice(0, 300))}`);
    assert.ok(r.json && r.json.error, `${what}: the answer is not the JSON error shape`);
    assert.equal(r.json.error.code, status === 401 ? 'UNAUTHENTICATED' : 'INVALID_REQUEST', what);
    if (status !== 401) // a 401 is an ordinary answer: the connection may stay open
        assert.ok(r.closed, `${what}: the connection stayed open after the refusal`);
    assert.deepEqual(await sideEffects(), before0, `${what}: something reached the upstream or ledger`);
}

test('a valid request and two pipelined valid requests are served', async () => {
    const r = await raw(smuggled() + smuggled().replace('Content-Type', 'Connection: close\r\nContent-Type'));
    assert.deepEqual(r.statuses, [200, 200], r.text.slice(0, 300));
    const p = await postJson(gw.port, '/v1/chat/completions', BODY, { key });
    assert.equal(p.status, 200, p.text);
});

test('two Content-Length headers are 400 and the rest is not read as a request', async () => {
    const tail = smuggled();
    await assertRefused(chatHead(`Content-Length: ${BODY.length}\r\nContent-Length: ${BODY.length + tail.length}\r\n\r\n`) + BODY + tail,
                        400, 'different values');
    await assertRefused(chatHead(`Content-Length: ${BODY.length}\r\nContent-Length: ${BODY.length}\r\n\r\n`) + BODY + tail,
                        400, 'equal values');
    await assertRefused(chatHead(`Content-Length: ${BODY.length}, ${BODY.length}\r\n\r\n`) + BODY + tail,
                        400, 'a list');
    await assertRefused(chatHead(`Content-Length: +${BODY.length}\r\n\r\n`) + BODY + tail, 400, 'a sign');
});

test('Transfer-Encoding with a space before the colon, or not exactly chunked, is 400', async () => {
    const tail = smuggled();
    // To evhttp "Transfer-Encoding " is another field: it would frame by Content-Length (0 here).
    const chunked = `${tail.length.toString(16)}\r\n${tail}\r\n0\r\n\r\n`;
    await assertRefused(chatHead('Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n') + chunked,
                        400, 'space before colon');
    await assertRefused(chatHead('Transfer-Encoding\t: chunked\r\n\r\n') + chunked, 400, 'tab before colon');
    await assertRefused(chatHead('Transfer-Encoding: gzip, chunked\r\n\r\n') + chunked, 400, 'gzip, chunked');
    await assertRefused(chatHead('Transfer-Encoding:\tchunked\r\n\r\n') + chunked, 400, 'tab-led value');
    await assertRefused(chatHead(`Transfer-Encoding: chunked\r\nContent-Length: ${chunked.length}\r\n\r\n`) + chunked,
                        400, 'CL and TE');
});

test('obs-fold, bare LF, bare CR, NUL and control characters in a head are 400', async () => {
    const tail = smuggled();
    const cl = `Content-Length: ${BODY.length}\r\n`;
    await assertRefused(chatHead(`${cl}X-A: a\r\n Transfer-Encoding: chunked\r\n\r\n`) + BODY + tail, 400, 'obs-fold');
    await assertRefused(chatHead(`${cl}X-A: a\r\n\tb\r\n\r\n`) + BODY, 400, 'obs-fold with a tab');
    await assertRefused(chatHead(cl).replaceAll('\r\n', '\n') + '\n' + BODY + tail, 400, 'bare LF');
    await assertRefused(chatHead(`${cl}X-A: a\rb\r\n\r\n`) + BODY, 400, 'bare CR');
    await assertRefused(chatHead(`${cl}X-A: a\x00b\r\n\r\n`) + BODY, 400, 'NUL in a value');
    await assertRefused(chatHead(`${cl}X-A: a\x01b\r\n\r\n`) + BODY, 400, 'a control character');
    await assertRefused(chatHead(`${cl}X\x00A: b\r\n\r\n`) + BODY, 400, 'NUL in a name');
    await assertRefused(chatHead(`${cl}X(A): b\r\n\r\n`) + BODY, 400, 'a name that is not a token');
    await assertRefused(chatHead(`${cl}Bulwark Refused: 1\r\n\r\n`) + BODY, 400, 'the stand-in marker');
});

test('repeated Host or Authorization, a missing Host and odd targets are 400', async () => {
    const cl = `Content-Length: ${BODY.length}\r\n`;
    await assertRefused(chatHead(`Host: evil.example\r\n${cl}\r\n`) + BODY, 400, 'two Hosts');
    await assertRefused(chatHead(`Authorization: Bearer bwk_${'A'.repeat(43)}\r\n${cl}\r\n`) + BODY,
                        400, 'two Authorizations (the second unknown)');
    await assertRefused(chatHead(`authorization: Bearer ${key}\r\n${cl}\r\n`) + BODY,
                        400, 'two Authorizations (the same)');
    await assertRefused(chatHead(cl).replace('Host: 127.0.0.1\r\n', '') + '\r\n' + BODY, 400, 'no Host');
    await assertRefused(chatHead(cl).replace('/v1/chat', 'http://127.0.0.1/v1/chat') + '\r\n' + BODY,
                        400, 'absolute-form');
    await assertRefused(chatHead(cl).replace('/v1/chat', '//evil.example/v1/chat') + '\r\n' + BODY,
                        400, 'a target that starts with //');
    await assertRefused(chatHead(cl).replace('HTTP/1.1', 'HTTP/1.1 ') + '\r\n' + BODY, 400, 'a trailing space');
});

test('a malformed chunked body or trailer fields: refused, nothing smuggled', async () => {
    const tail = smuggled();
    const te = 'Transfer-Encoding: chunked\r\n\r\n';
    const hex = BODY.length.toString(16);
    const cases = {
        '0x prefix': `0x${hex}\r\n${BODY}\r\n0\r\n\r\n${tail}`,
        'extension': `${hex};a=b\r\n${BODY}\r\n0\r\n\r\n${tail}`,
        'no CRLF after data': `${hex}\r\n${BODY}0\r\n\r\n${tail}`,
        'empty line between chunks': `${hex}\r\n${BODY}\r\n\r\n0\r\n\r\n${tail}`,
        'trailer field': `${hex}\r\n${BODY}\r\n0\r\nAuthorization: Bearer x\r\n\r\n${tail}`,
    };
    for (const [what, body] of Object.entries(cases)) {
        const before0 = await sideEffects();
        const r = await raw(chatHead(te) + body);
        assert.ok(r.statuses.every((s) => s === 400) && r.statuses.length <= 1,
                  `${what}: ${JSON.stringify(r.text.slice(0, 300))}`);
        assert.ok(r.closed, `${what}: still open`);
        assert.deepEqual(await sideEffects(), before0, `${what}: something reached the upstream`);
    }
});

test('a valid request followed by a refused one: the first is served, then one refusal', async () => {
    const before0 = await sideEffects();
    const bad = chatHead(`Content-Length: ${BODY.length}\r\nContent-Length: 1\r\n\r\n`) + BODY + smuggled();
    const r = await raw(smuggled() + bad);
    assert.deepEqual(r.statuses, [200, 400], r.text.slice(0, 400));
    assert.equal((await sideEffects()).upstream, before0.upstream + 1);
});

test('a Bearer credential with anything around the key is 401', async () => {
    const cl = `Content-Length: ${BODY.length}\r\n`;
    for (const [what, v] of [['junk after the key', `Bearer ${key} garbage`],
                             ['two spaces', `Bearer  ${key}`],
                             ['a comma', `Bearer ${key},x`],
                             ['another scheme', `Basic ${key}`],
                             ['no space', `Bearer${key}`]]) {
        await assertRefused(chatHead(`Authorization: ${v}\r\n${cl}\r\n`, { auth: false }) + BODY, 401, what);
    }
    // the API routes read the credential through the same parser
    const before0 = await sideEffects();
    const r = await raw(`GET /api/v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.keys.admin_key} x\r\nConnection: close\r\n\r\n`);
    assert.deepEqual(r.statuses, [401], r.text.slice(0, 200));
    assert.deepEqual(await sideEffects(), before0);
    await assertHealthy(gw.port);
});

test('heads that arrive in pieces are framed the same way', async () => {
    const pieces = async (parts) => {
        const c = await rawConnect(gw.port);
        for (const p of parts) {
            c.sock.write(Buffer.from(p, 'latin1'));
            await sleep(50);
        }
        await Promise.race([c.closed, sleep(3000)]);
        c.sock.destroy();
        return [...c.data.toString('latin1').matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
    };
    const pad = `X-Pad: ${'p'.repeat(6000)}\r\n`; // over one 4 KiB read
    const good = chatHead(`${pad}Connection: close\r\nContent-Length: ${BODY.length}\r\n\r\n`) + BODY;
    assert.deepEqual(await pieces([good.slice(0, 30), good.slice(30, 5000), good.slice(5000, good.length - 10),
                                   good.slice(good.length - 10)]), [200]);
    const before0 = await sideEffects();
    const bad = chatHead(`${pad}Content-Length: ${BODY.length}\r\nContent-Length: 0\r\n\r\n`) + BODY + smuggled();
    assert.deepEqual(await pieces([bad.slice(0, 5000), bad.slice(5000)]), [400]);
    const lf = chatHead(`Content-Length: ${BODY.length}\r\n`).replaceAll('\r\n', '\n');
    assert.deepEqual(await pieces([lf, '\n' + BODY]), [400]);
    assert.deepEqual(await sideEffects(), before0);
});

test('a malformed chunk after the body was begun: one 400, the connection closed, nothing smuggled', async () => {
    const before0 = await sideEffects();
    const c = await rawConnect(gw.port);
    const half = BODY.slice(0, 10);
    c.sock.write(chatHead('Transfer-Encoding: chunked\r\n\r\n') + `${half.length.toString(16)}\r\n${half}\r\n`);
    await sleep(200); // the head is accepted and evhttp is reading the body
    c.sock.write(`0x${(BODY.length - 10).toString(16)}\r\n${BODY.slice(10)}\r\n0\r\n\r\n${smuggled()}`);
    await Promise.race([c.closed, sleep(3000)]);
    c.sock.destroy();
    const text = c.data.toString('latin1');
    const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [400], text.slice(0, 300));
    assert.match(text, /"code":"INVALID_REQUEST"/);
    assert.ok(c.closedAt !== null, 'still open');
    assert.deepEqual(await sideEffects(), before0);
    await assertHealthy(gw.port);
});

test('"close" in a Connection list with other options is 400: nothing behind it is read', async () => {
    // RFC 9112 9.6: nothing after a request with "close" is processed; the HTTP library honours
    // only the exact value "close", so a list would let it read the smuggled request.
    for (const v of ['keep-alive, close', 'close, keep-alive', 'close,', 'Upgrade,close', 'close, close'])
        await assertRefused(chatHead(`Content-Length: ${BODY.length}\r\nConnection: ${v}\r\n\r\n`) + BODY + smuggled(),
                            400, `Connection: ${v}`);
    const r = await raw(chatHead(`Content-Length: ${BODY.length}\r\nConnection: CLOSE\r\n\r\n`) + BODY + smuggled());
    assert.deepEqual(r.statuses, [200], r.text.slice(0, 300));
});

test('a connection closed in the middle of a body leaves nothing to the next one on its descriptor', async () => {
    // The framing state is kept per file descriptor and tagged with the connection; the next
    // connection usually gets the same descriptor number, and often a bufferevent at the same
    // address on the same worker. Were the old state (a body still expected) carried over,
    // the new connection's head would be taken as body and never framed: evhttp would serve a
    // bare-LF head the guard refuses. Many rounds, so both workers and address reuse are hit.
    const before0 = await sideEffects();
    for (let i = 0; i < 24; i++) {
        const a = await rawConnect(gw.port);
        a.sock.write(chatHead('Content-Length: 100000\r\n\r\n') + BODY.slice(0, 10));
        await sleep(30); // read by the gateway: it now expects the rest of the body
        a.sock.destroy();
        await sleep(30); // the gateway sees the close and frees the connection
        const r = await raw('GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n');
        assert.deepEqual(r.statuses, [400], `round ${i}: ${JSON.stringify(r.text.slice(0, 200))}`);
    }
    assert.deepEqual(await sideEffects(), before0);
    await assertHealthy(gw.port);
});

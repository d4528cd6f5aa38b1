// Scenario: header floods past limits.max_header_bytes (one huge header, thousands of small
// ones, a huge request line). Each gets a 4xx answer or a closed connection, promptly, never a
// 2xx, and the server stays healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startGateway, rawConnect, request, assertHealthy, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const LIMIT = 16384;
let gw, key;
before(async () => {
    gw = await startGateway(scope, { upstreamFlag: 'mock', config: { maxHeaderBytes: LIMIT } });
    key = gw.keys.agent_key;
});

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

// Sends `head` (+ a small body) on a raw socket; waits up to 5 s for an answer or a close.
async function flood(head) {
    const c = await rawConnect(gw.port);
    const t0 = Date.now();
    const buf = Buffer.from(head);
    for (let off = 0; off < buf.length && !c.closedAt; off += 65536) {
        c.sock.write(buf.subarray(off, off + 65536));
        await sleep(1);
    }
    if (!c.closedAt) c.sock.write(BODY);
    await Promise.race([c.closed, sleep(5000)]);
    const dt = Date.now() - t0;
    const text = c.data.toString('latin1');
    c.sock.destroy();
    const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
    return { status: m ? Number(m[1]) : null, closed: c.closedAt !== null, text, dt };
}

function assertRefused(r, what) {
    assert.ok(r.status !== null || r.closed, `${what}: neither answered nor closed in 5 s`);
    if (r.status !== null)
        assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}: ${r.text.slice(0, 200)}`);
}

const start = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${BODY.length}\r\n`;
const auth = () => `Authorization: Bearer ${key}\r\n`;

test('one header of 64 KiB is refused', async () => {
    assertRefused(await flood(start + auth() + `X-Big: ${'a'.repeat(65536)}\r\n\r\n`), 'big header');
    await assertHealthy(gw.port);
});

test('4000 small headers are refused', async () => {
    let h = start + auth();
    for (let i = 0; i < 4000; i++) h += `X-H-${i}: v${i}\r\n`;
    assertRefused(await flood(h + '\r\n'), 'many headers');
    await assertHealthy(gw.port);
});

test('a 64 KiB request line is refused', async () => {
    const r = await flood(`GET /v1/models?${'q'.repeat(65536)} HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`);
    assertRefused(r, 'long request line');
    await assertHealthy(gw.port);
});

test('a header section that never ends (1 MiB, no blank line) is cut off', async () => {
    let h = start + auth();
    while (h.length < 1 << 20) h += `X-Pad: ${'b'.repeat(1000)}\r\n`;
    const c = await rawConnect(gw.port);
    let written = 0;
    const buf = Buffer.from(h);
    while (written < buf.length && !c.closedAt) {
        c.sock.write(buf.subarray(written, written + 65536));
        written += 65536;
        await sleep(1);
    }
    await Promise.race([c.closed, sleep(5000)]);
    const text = c.data.toString('latin1');
    c.sock.destroy();
    const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
    assert.ok(c.closedAt !== null || (m && Number(m[1]) >= 400),
              'the server kept reading an endless header section');
    if (m) assert.ok(Number(m[1]) >= 400 && Number(m[1]) < 500, `status ${m[1]}`);
});

test('20 concurrent floods leave the server healthy', async () => {
    const big = start + auth() + `X-Big: ${'c'.repeat(LIMIT * 2)}\r\n\r\n`;
    const rs = await Promise.all(Array.from({ length: 20 }, () => flood(big)));
    rs.forEach((r, i) => assertRefused(r, `flood ${i}`));
    await assertHealthy(gw.port);
});

test('headers well under the limit are accepted', async () => {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    for (let i = 0; i < 20; i++) headers[`x-extra-${i}`] = 'z'.repeat(200); // ~4.5 KiB
    const r = await request(gw.port, { method: 'POST', path: '/v1/chat/completions', headers,
                                       body: BODY });
    assert.equal(r.status, 200, r.text);
});

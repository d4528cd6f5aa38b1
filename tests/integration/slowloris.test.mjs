// Scenario: slow clients (client_timeout_s: 2). A request whose head or body trickles in one
// byte a second is cut off within about client_timeout_s, an idle keep-alive connection is
// closed after it, and the server keeps serving others meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startGateway, rawConnect, healthz, assertHealthy, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const TIMEOUT_S = 2;
const GRACE_MS = 2500; // "within about client_timeout_s + a little"
let gw, key;
before(async () => {
    gw = await startGateway(scope, { upstreamFlag: 'mock', config: { clientTimeoutS: TIMEOUT_S } });
    key = gw.keys.agent_key;
});

// Writes `first` at once, then one byte of `drip` per second until the server closes the
// connection (or 12 s pass). Meanwhile polls /healthz every 250 ms. Returns {closedAfterMs,
// healthOk, healthFail, text}.
async function trickle(first, drip) {
    const c = await rawConnect(gw.port);
    const t0 = Date.now();
    c.sock.write(first);
    let healthOk = 0;
    let healthFail = 0;
    const poll = (async () => {
        while (!c.closedAt && Date.now() - t0 < 12000) {
            try {
                const r = await healthz(gw.port);
                if (r.status === 200) healthOk++;
                else healthFail++;
            } catch {
                healthFail++;
            }
            await sleep(250);
        }
    })();
    for (let i = 0; i < drip.length && !c.closedAt && Date.now() - t0 < 12000; i++) {
        await Promise.race([c.closed, sleep(1000)]);
        if (!c.closedAt) c.sock.write(drip[i]);
    }
    await Promise.race([c.closed, sleep(Math.max(0, 12000 - (Date.now() - t0)))]);
    await poll;
    const closedAfterMs = c.closedAt ? c.closedAt - t0 : null;
    const text = c.data.toString('latin1');
    c.sock.destroy();
    return { closedAfterMs, healthOk, healthFail, text };
}

function assertCut(r, what) {
    assert.ok(r.closedAfterMs !== null, `${what}: the server never closed the connection`);
    assert.ok(r.closedAfterMs <= TIMEOUT_S * 1000 + GRACE_MS,
              `${what}: closed after ${r.closedAfterMs} ms (client_timeout_s ${TIMEOUT_S})`);
    assert.ok(r.closedAfterMs >= TIMEOUT_S * 1000 - 500,
              `${what}: closed after only ${r.closedAfterMs} ms, before the timeout`);
    if (r.text) {
        const m = r.text.match(/^HTTP\/1\.[01] (\d{3})/);
        assert.ok(m && Number(m[1]) >= 400, `${what}: answered ${r.text.slice(0, 100)}`);
    }
    assert.equal(r.healthFail, 0, `${what}: /healthz failed ${r.healthFail} times meanwhile`);
    assert.ok(r.healthOk >= 3, `${what}: only ${r.healthOk} /healthz answers meanwhile`);
}

test('slow headers, slow body and idle keep-alive are all cut off; others are served', async () => {
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n';
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const fullHead = head + `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`;
    // The three run side by side, so the suite pays the timeout once.
    const [headers, slowBody, idle] = await Promise.all([
        trickle(head, 'X-Slow: ' + 'a'.repeat(30)),
        trickle(fullHead, body),
        (async () => {
            // A complete keep-alive request, then silence.
            const c = await rawConnect(gw.port);
            c.sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
            await new Promise((r) => {
                const iv = setInterval(() => {
                    if (c.data.includes('"ok"') || c.closedAt) { clearInterval(iv); r(); }
                }, 10);
            });
            const t0 = Date.now();
            await Promise.race([c.closed, sleep(12000)]);
            const closedAfterMs = c.closedAt ? c.closedAt - t0 : null;
            c.sock.destroy();
            return { closedAfterMs, text: c.data.toString('latin1') };
        })(),
    ]);
    assertCut(headers, 'slow headers');
    assertCut(slowBody, 'slow body');
    assert.match(idle.text, /^HTTP\/1\.1 200/);
    assert.ok(idle.closedAfterMs !== null, 'idle keep-alive connection never closed');
    assert.ok(idle.closedAfterMs <= TIMEOUT_S * 1000 + GRACE_MS,
              `idle keep-alive closed after ${idle.closedAfterMs} ms`);
    await assertHealthy(gw.port);
});

test('many slow clients at once do not starve a normal one', async () => {
    const conns = await Promise.all(Array.from({ length: 50 }, () => rawConnect(gw.port)));
    for (const c of conns) c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    const r = await healthz(gw.port);
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 < 1000, `healthz took ${Date.now() - t0} ms with 50 slow clients`);
    await Promise.all(conns.map((c) => Promise.race([c.closed, sleep(TIMEOUT_S * 1000 + GRACE_MS + 500)])));
    const open = conns.filter((c) => !c.closedAt).length;
    for (const c of conns) c.sock.destroy();
    assert.equal(open, 0, `${open} of 50 slow connections still open after the timeout`);
});

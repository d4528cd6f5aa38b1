// rate_precision: under sustained overload (many keep-alive connections sending as fast as they
// can for several seconds), the admitted rate of a per-key limit is within 5% of the configured
// rate: admitted = burst + rate x elapsed. Every refusal is a 429 RATE_LIMITED with a receipt.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Scope, startGatewayWithYaml } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const RATE_PER_MIN = 1200; // 20 per second
const BURST = 20;
const SECONDS = 5;
const CONNS = 16;

test(`admitted rate within 5% of ${RATE_PER_MIN}/min under overload`, async (t) => {
    const gw = await startGatewayWithYaml(scope, '', {});
    // per-key limit: written into the limits: section of the generated config
    const fs = await import('node:fs/promises');
    const cfg = (await fs.readFile(gw.configPath, 'utf8'))
        .replace('limits:\n', `limits:\n  key_requests_per_minute: ${RATE_PER_MIN}\n  key_requests_burst: ${BURST}\n`);
    await gw.proc.stop(3000);
    await fs.writeFile(gw.configPath, cfg);
    const proc = scope.spawn(['serve', '--data', gw.dir, '--config', gw.configPath, '--listen', '127.0.0.1:0'],
                             { env: { BULWARK_UPSTREAM_KEY: 'sk-test' } });
    const port = Number((await proc.waitStderr(/listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);

    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS });
    const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16,
                                  messages: [{ role: 'user', content: 'hi' }] });
    const counts = { ok: 0, limited: 0, other: 0 };
    let first = 0, last = 0;
    const stopAt = Date.now() + SECONDS * 1000;
    const one = () => new Promise((resolve) => {
        const sent = Date.now();
        if (!first) first = sent;
        const req = http.request({ port, method: 'POST', path: '/v1/chat/completions', agent,
                                   headers: { 'content-type': 'application/json',
                                              authorization: `Bearer ${gw.keys.agent_key}` } }, (res) => {
            let data = '';
            res.on('data', (d) => { data += d; });
            res.on('end', () => {
                if (res.statusCode === 200) { counts.ok++; last = sent; }
                else if (res.statusCode === 429 && data.includes('RATE_LIMITED')) counts.limited++;
                else counts.other++;
                resolve();
            });
        });
        req.on('error', () => { counts.other++; resolve(); });
        req.end(body);
    });
    const loop = async () => { while (Date.now() < stopAt) await one(); };
    await Promise.all(Array.from({ length: CONNS }, loop));
    agent.destroy();
    const elapsed = (last - first) / 1000;
    const expected = BURST + (RATE_PER_MIN / 60) * elapsed;
    const err = Math.abs(counts.ok - expected) / expected;
    t.diagnostic(`admitted ${counts.ok} of ${counts.ok + counts.limited}, expected ${expected.toFixed(1)} ` +
                 `over ${elapsed.toFixed(2)} s (${(err * 100).toFixed(2)}% off)`);
    assert.equal(counts.other, 0, JSON.stringify(counts));
    assert.ok(counts.limited > counts.ok, `not overloaded: ${JSON.stringify(counts)}`);
    assert.ok(err <= 0.05, `admitted ${counts.ok}, expected ${expected.toFixed(1)} ` +
                           `(${(err * 100).toFixed(1)}% off) over ${elapsed.toFixed(2)} s; ${JSON.stringify(counts)}`);
    await proc.stop(3000);
});

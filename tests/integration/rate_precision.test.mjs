// rate_precision: under sustained overload from wrk (16 keep-alive connections sending as fast
// as they can for 5 s, bench/chat.lua), the admitted rate of a per-key limit is within 5% of
// the configured rate: admitted = burst + rate x elapsed. Everything else is a 429.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO, Scope, startGatewayWithYaml } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const RATE_PER_MIN = 1200; // 20 per second
const BURST = 20;
const SECONDS = 5;

function wrk(port, key) {
    return new Promise((resolve, reject) => {
        const child = spawn('wrk', ['-t2', '-c16', `-d${SECONDS}s`, '-s', path.join(REPO, 'bench/chat.lua'),
                                    `http://127.0.0.1:${port}/v1/chat/completions`],
                            { env: { ...process.env, BULWARK_AGENT_KEY: key } });
        let out = '';
        child.stdout.on('data', (d) => { out += d; });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`))));
    });
}

test(`admitted rate within 5% of ${RATE_PER_MIN}/min under wrk overload`, async (t) => {
    const gw = await startGatewayWithYaml(scope, '', {});
    const cfg = (await fs.readFile(gw.configPath, 'utf8'))
        .replace('limits:\n', `limits:\n  key_requests_per_minute: ${RATE_PER_MIN}\n  key_requests_burst: ${BURST}\n`);
    await gw.proc.stop(3000);
    await fs.writeFile(gw.configPath, cfg);
    const proc = scope.spawn(['serve', '--data', gw.dir, '--config', gw.configPath, '--listen', '127.0.0.1:0'],
                             { env: { BULWARK_UPSTREAM_KEY: 'sk-test' } });
    const port = Number((await proc.waitStderr(/listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
    const out = await wrk(port, gw.keys.agent_key);
    const m = out.match(/BENCH requests=(\d+) duration_us=(\d+) .* err_connect=(\d+) err_read=(\d+) err_write=(\d+) err_status=(\d+) err_timeout=(\d+)/);
    assert.ok(m, out);
    const [requests, durationUs, econn, eread, ewrite, nonOk, etimeout] = m.slice(1).map(Number);
    const admitted = requests - nonOk;
    const expected = BURST + (RATE_PER_MIN / 60) * (durationUs / 1e6);
    const err = Math.abs(admitted - expected) / expected;
    t.diagnostic(`wrk: ${requests} requests in ${(durationUs / 1e6).toFixed(2)} s, admitted ${admitted}, ` +
                 `expected ${expected.toFixed(1)} (${(err * 100).toFixed(2)}% off)`);
    assert.equal(econn + eread + ewrite + etimeout, 0, out);
    assert.ok(nonOk > admitted, `not overloaded: ${out}`);
    assert.ok(err <= 0.05, `admitted ${admitted}, expected ${expected.toFixed(1)}: ${(err * 100).toFixed(1)}% off`);
    await proc.stop(3000);
});

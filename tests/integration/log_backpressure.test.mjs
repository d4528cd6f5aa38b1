// log_backpressure: a log reader that stops reading (a stuck pipe, a slow disk) must not stall
// the gateway (docs/CONFIG.md "Logs"). The gateway's stderr is a pipe nobody drains; far more
// request lines than the pipe holds are produced; every request is still answered promptly
// (lines are dropped and counted instead), the drop count is reported once the reader resumes,
// and SIGTERM still stops the gateway.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Scope, BIN, childEnv, initData, configYaml, request, waitFor } from './lib/harness.mjs';
import fsp from 'node:fs/promises';
import path from 'node:path';

const scope = new Scope();
after(() => scope.cleanup());

async function freePort() {
    const s = net.createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
}

test('a stuck log pipe never stalls requests (lines queue, then drop)', async () => {
    const data = await initData(scope);
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null }));
    const port = await freePort();
    const child = spawn(BIN, ['serve', '--data', data.dir, '--config', configPath,
                              '--listen', `127.0.0.1:${port}`],
                        { env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    try {
        child.stderr.pause(); // nobody reads: the pipe (and node's buffer) fill up
        await waitFor(async () => (await request(port, { path: '/healthz', timeoutMs: 1000 })).status === 200,
                      { timeoutMs: 15000, what: 'the gateway' });
        // ~300 bytes per request line: 3000 requests are far more than a pipe holds
        const started = Date.now();
        for (let round = 0; round < 150; round++) {
            const batch = [];
            for (let i = 0; i < 20; i++)
                batch.push(request(port, { path: i % 2 ? '/healthz' : '/no/such/path', timeoutMs: 5000 }));
            for (const r of await Promise.all(batch)) assert.ok(r.status === 200 || r.status === 404);
        }
        const ms = Date.now() - started;
        assert.ok(ms < 60000, `3000 requests took ${ms} ms with a stuck log`);
        // the reader resumes: the drop count is reported
        let err = '';
        child.stderr.on('data', (d) => { err += d; });
        child.stderr.resume();
        await request(port, { path: '/healthz' });
        await waitFor(() => /log: \d+ line\(s\) dropped: the log queue was full/.test(err) ||
                            /"type":"request"/.test(err),
                      { timeoutMs: 10000, what: 'the log to flow again' });
        child.kill('SIGTERM');
        const { code } = await Promise.race([exited, new Promise((r) => setTimeout(() => r({ code: 'timeout' }), 15000))]);
        assert.equal(code, 0, 'the gateway stops cleanly');
        assert.match(err, /info stopped/);
    } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
});

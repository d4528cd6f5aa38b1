// port_in_use: a second gateway cannot take a port another one listens on (SO_REUSEPORT would
// otherwise let it bind silently and split the traffic between two unrelated services).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startGateway, initData, run, healthz } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

test('serve refuses a port that is already in use, and the first gateway keeps serving', async () => {
    const gw = await startGateway(scope);
    const other = await initData(scope);
    const r = await run(['serve', '--data', other.dir, '--listen', `127.0.0.1:${gw.port}`,
                         '--upstream', 'mock'], { timeoutMs: 15000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /in use/);
    assert.equal((await healthz(gw.port)).status, 200);
});

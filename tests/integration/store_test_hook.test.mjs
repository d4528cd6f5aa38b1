// store_test_hook: the slow-store fault hook (docs/INTERNALS.md "jobs/", tests only).
// BULWARK_TEST_STORE_DELAY_MS delays every store job only together with BULWARK_TEST_HOOKS=1;
// the gateway says so at start. Alone, or with any other value, it does nothing, so a stray
// variable in a deployment cannot slow the store.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startGateway, healthz } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const HOOK_LINE = /jobs: TEST HOOK: every store job sleeps 250 ms first/;

test('with BULWARK_TEST_HOOKS=1 the delay is on and announced', async () => {
    const gw = await startGateway(scope, {
        env: { BULWARK_TEST_HOOKS: '1', BULWARK_TEST_STORE_DELAY_MS: '250' } });
    assert.match(gw.proc.stderr, HOOK_LINE);
    assert.equal((await healthz(gw.port)).status, 200);
});

for (const hooks of [undefined, '0', 'yes']) {
    test(`BULWARK_TEST_STORE_DELAY_MS with BULWARK_TEST_HOOKS=${hooks} does nothing`, async () => {
        const env = { BULWARK_TEST_STORE_DELAY_MS: '250' };
        if (hooks !== undefined) env.BULWARK_TEST_HOOKS = hooks;
        const gw = await startGateway(scope, { env });
        assert.equal((await healthz(gw.port)).status, 200);
        assert.doesNotMatch(gw.proc.stderr, /TEST HOOK/);
    });
}

// Scenario: the upstream credential. serve refuses to start when the env var named by
// upstream.api_key_env is unset; when set, its value (and never the agent's key) is what the
// upstream sees; --upstream overrides the config's url.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
    Scope, initData, configYaml, run, startMock, startGateway, postJson, chatBody,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

test('serve exits 1 with one line when api_key_env names an unset variable', async () => {
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'c.yaml');
    fs.writeFileSync(cfg, configYaml({ apiKeyEnv: 'BULWARK_TEST_UNSET_KEY_VAR' }));
    const r = await run(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                        { timeoutMs: 10000 });
    assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /listening/);
    assert.match(r.stderr, /BULWARK_TEST_UNSET_KEY_VAR/, 'the message should name the variable');
});

test('serve exits 1 on a config with an unknown key, naming it', async () => {
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'c.yaml');
    fs.writeFileSync(cfg, configYaml() + 'no_such_key: 1\n');
    const r = await run(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                        { timeoutMs: 10000 });
    assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /no_such_key/);
});

test('the upstream sees the configured key, never the agent key', async () => {
    const mock = await startMock(scope);
    const gw = await startGateway(scope, { upstream: mock, upstreamKey: 'sk-test-upstream-123' });
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assert.equal(r.status, 200, r.text);
    const s = await mock.stats();
    assert.equal(s.last_authorization, 'Bearer sk-test-upstream-123');
});

test('without api_key_env, no Authorization at all goes upstream', async () => {
    const mock = await startMock(scope);
    const gw = await startGateway(scope, { upstream: mock, config: { apiKeyEnv: null } });
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assert.equal(r.status, 200, r.text);
    const s = await mock.stats();
    assert.equal(s.requests, 1);
    assert.ok(!String(s.last_authorization ?? '').includes(gw.keys.agent_key),
              'the agent key was forwarded upstream');
    assert.equal(s.last_authorization, null);
});

test('--upstream URL overrides the config url', async () => {
    const mock = await startMock(scope);
    // The config says mock (in-process); the flag points at the external mock.
    const gw = await startGateway(scope, { upstream: 'mock', upstreamFlag: mock.v1 });
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assert.equal(r.status, 200, r.text);
    assert.equal((await mock.stats()).requests, 1, 'the flag did not redirect the upstream');
});

test('serve uses DIR/bulwark.yaml when --config is not given', async () => {
    const data = await initData(scope);
    const p = scope.spawn(['serve', '--data', data.dir, '--listen', '127.0.0.1:0'], { name: 'serve' });
    const m = await p.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    const r = await postJson(Number(m[1]), '/v1/chat/completions', chatBody(),
                             { key: data.keys.agent_key });
    assert.equal(r.status, 200, r.text);
});

// budget_refusals: what a refused call tells the client.
//   - Output caps that are not valid (max_tokens -1, 0, 1.5, "10", too large; n or best_of out
//     of 1..128; the same for max_completion_tokens) answer 400 INVALID_REQUEST with a message
//     naming the field, with or without a policy, and nothing is forwarded.
//   - A refusal that retrying cannot help (BUDGET_EXHAUSTED, a worst case larger than a token
//     bucket) sends x-should-retry: false and no Retry-After: the official openai SDK, with its
//     default retries, sends the call once and returns at once.
//   - A rate limit that will refill sends a truthful Retry-After (and retry-after-ms).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import {
    Scope, initData, startMock, startGatewayWithYaml, configYaml, postJson, assertError,
    receipts, predicate,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

async function gateway(mock, extra, limitsLines = '') {
    const data = await initData(scope);
    const yaml = configYaml({ upstream: mock.v1, apiKeyEnv: null })
        .replace('limits:\n', `limits:\n${limitsLines}`) + extra;
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys };
}

const BAD = [
    [{ max_tokens: -1 }, /"max_tokens" must be an integer from 1/],
    [{ max_tokens: 0 }, /"max_tokens"/],
    [{ max_tokens: 1.5 }, /"max_tokens"/],
    [{ max_tokens: '10' }, /"max_tokens"/],
    [{ max_tokens: 1e12 }, /"max_tokens"/],
    [{ max_completion_tokens: -5 }, /"max_completion_tokens" must be an integer/],
    [{ max_tokens: 10, max_completion_tokens: true }, /"max_completion_tokens"/],
    [{ max_tokens: 10, n: 0 }, /"n" must be an integer from 1 to 128/],
    [{ max_tokens: 10, n: 129 }, /"n"/],
    [{ max_tokens: 10, n: '8' }, /"n"/],
    [{ max_tokens: 10, n: 2.5 }, /"n"/],
    [{ max_tokens: 10, best_of: -1 }, /"best_of"/],
];

async function assertInvalidCaps(gw, mock) {
    for (const [extra, msg] of BAD) {
        const r = await postJson(gw.port, '/v1/chat/completions',
            { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra },
            { key: gw.keys.agent_key });
        const e = assertError(r, 400, 'INVALID_REQUEST');
        assert.match(e.message, msg, `${JSON.stringify(extra)}: ${e.message}`);
        assert.doesNotMatch(e.message, /policy/);
    }
    assert.equal((await mock.stats()).requests, 0, 'an invalid cap reached the upstream');
}

test('invalid output caps are INVALID_REQUEST with a clear message, nothing forwarded (no policy)', async () => {
    const mock = await startMock(scope);
    const gw = await gateway(mock, 'budgets:\n  default:\n    monthly_tokens: 1000000\n');
    await assertInvalidCaps(gw, mock);
});

test('invalid output caps are INVALID_REQUEST with a clear message, nothing forwarded (with a policy)', async () => {
    const mock = await startMock(scope);
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'),
                        'version: 1\nrules:\n  - id: chat\n    match: {route: chat}\n    effect: allow\n');
    const yaml = configYaml({ upstream: mock.v1, apiKeyEnv: null }) + 'policy: policy.yaml\n';
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    await assertInvalidCaps({ port: Number(m[1]), keys: data.keys }, mock);
});

const denials = (dir, reason) => receipts(dir).map(predicate)
    .filter((p) => p.kind === 'decision' && p.reason === reason).length;

test('BUDGET_EXHAUSTED tells SDKs not to retry: the openai SDK sends it once and returns promptly', async () => {
    const mock = await startMock(scope);
    const gw = await gateway(mock, 'budgets:\n  default:\n    monthly_tokens: 50\n');
    const raw = await postJson(gw.port, '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
        { key: gw.keys.agent_key });
    assertError(raw, 429, 'BUDGET_EXHAUSTED', { receipt: true });
    assert.equal(raw.headers['x-should-retry'], 'false');
    assert.equal(raw.headers['retry-after'], undefined, 'no Retry-After: waiting does not help');

    // default retries (2): the SDK obeys x-should-retry
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: gw.keys.agent_key,
                                timeout: 15000 });
    const t0 = Date.now();
    await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100,
                                         messages: [{ role: 'user', content: 'hi' }] }),
        (e) => e.status === 429 && e.code === 'BUDGET_EXHAUSTED');
    const took = Date.now() - t0;
    assert.equal(denials(gw.dir, 'BUDGET_EXHAUSTED'), 2, 'the SDK retried a call that cannot fit');
    // before: Retry-After 60 and no x-should-retry, so the SDK waited and retried
    assert.ok(took < 5000, `the SDK took ${took} ms to give up`);
    assert.equal((await mock.stats()).requests, 0);
});

test('a worst case larger than a token bucket never fits: x-should-retry false; a rate limit keeps a truthful Retry-After', async () => {
    const mock = await startMock(scope);
    const gw = await gateway(mock, '',
        '  key_tokens_per_minute: 500\n  key_requests_per_minute: 2\n  key_requests_burst: 2\n');
    const big = await postJson(gw.port, '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] },
        { key: gw.keys.agent_key });
    assertError(big, 429, 'RATE_LIMITED', { receipt: true });
    assert.equal(big.headers['x-should-retry'], 'false');
    assert.equal(big.headers['retry-after'], undefined);

    const small = { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await postJson(gw.port, '/v1/chat/completions', small, { key: gw.keys.agent_key })).status, 200);
    const r = await postJson(gw.port, '/v1/chat/completions', small, { key: gw.keys.agent_key });
    assertError(r, 429, 'RATE_LIMITED', { receipt: true });
    assert.equal(r.headers['x-should-retry'], undefined, 'a rate limit refills: retrying helps');
    const s = Number(r.headers['retry-after']);
    const ms = Number(r.headers['retry-after-ms']);
    // 2 per minute: the next unit comes within 30 s
    assert.ok(s >= 1 && s <= 30, `Retry-After: ${r.headers['retry-after']}`);
    assert.ok(ms > 0 && ms <= 30000 && Math.ceil(ms / 1000) === s, `retry-after-ms: ${ms}`);
});

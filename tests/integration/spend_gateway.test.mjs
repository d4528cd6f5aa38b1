// spend_gateway: admission through the real gateway. A per-key rate limit answers 429 with
// Retry-After and a deny receipt, and nothing is forwarded; 200 parallel calls against a budget
// that fits exactly 50 worst cases admit exactly 50 (none over); every forwarded call is metered
// and the usage table's totals equal the sum of the outcome receipts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
    Scope, initData, startMock, configYaml, postJson, assertError, assertDecision, receiptAt,
    predicate, receipts, waitFor, getWithKey,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

// A config with extra keys in its limits: section, and extra top-level sections.
async function gateway(mock, limitsLines, extra = '') {
    const data = await initData(scope);
    const yaml = configYaml({ upstream: mock.v1, apiKeyEnv: null })
        .replace('limits:\n', `limits:\n${limitsLines}`) + extra;
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys };
}

const BODY = JSON.stringify({
    model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello.' }],
});
// The worst case the gateway reserves: ceil(body bytes / 4) prompt tokens + max_tokens.
const WORST = Math.ceil(Buffer.byteLength(BODY) / 4) + 100;

test('a per-key rate limit refuses with 429, Retry-After and a deny receipt; nothing forwarded', async () => {
    const mock = await startMock(scope);
    const gw = await gateway(mock, '  key_requests_per_minute: 3\n  key_requests_burst: 3\n');
    for (let i = 0; i < 3; i++)
        assert.equal((await postJson(gw.port, '/v1/chat/completions', BODY, { key: gw.keys.agent_key })).status, 200);
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', BODY, { key: gw.keys.agent_key });
    assertError(r, 429, 'RATE_LIMITED', { receipt: true });
    assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
    const d = predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys)));
    assert.equal(d.reason, 'RATE_LIMITED');
    assert.equal((await mock.stats()).requests, 0, 'a rate-limited call reached the upstream');
});

test('200 parallel calls against a budget of exactly 50 worst cases: 50 admitted, none over', async () => {
    // The mock answers after a second, so no call settles (and frees budget) while they race.
    const mock = await startMock(scope, { latencyMs: 1000 });
    const budget = 50 * WORST;
    const gw = await gateway(mock, '', `budgets:\n  default:\n    monthly_tokens: ${budget}\n`);
    const results = await Promise.all(Array.from({ length: 200 }, () =>
        postJson(gw.port, '/v1/chat/completions', BODY, { key: gw.keys.agent_key, timeoutMs: 30000 })));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(ok.length, 50, `admitted ${ok.length}`);
    assert.equal(refused.length, 150);
    for (const r of refused) assert.equal(r.json.error.code, 'BUDGET_EXHAUSTED');
    assert.equal((await mock.stats()).requests, 50, 'exactly the admitted calls reached the upstream');

    // Metering: the usage table (flushed in batches) equals the outcome receipts' usage.
    const outcomes = () => receipts(gw.dir).map(predicate).filter((p) => p.kind === 'outcome');
    await waitFor(() => outcomes().length === 50, { what: '50 outcome receipts' });
    const fromReceipts = outcomes().reduce((s, p) => s + p.usage.total_tokens, 0);
    const usage = await waitFor(async () => {
        const u = await getWithKey(gw.port, '/api/v1/usage?group_by=none', gw.keys.admin_key);
        const row = u.json?.rows?.[0];
        return row && row.calls === 50 ? row : null;
    }, { what: 'usage rows for 50 calls', timeoutMs: 5000 });
    assert.equal(usage.total_tokens, fromReceipts, 'usage totals must equal the receipts');
    assert.ok(usage.total_tokens <= budget, 'spend over budget');
    const b = await getWithKey(gw.port, '/api/v1/budget', gw.keys.agent_key);
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.spent_tokens, fromReceipts);
});

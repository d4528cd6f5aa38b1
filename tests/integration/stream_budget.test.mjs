// stream_budget: a stream is billed for what it delivered and held to its reservation. An
// upstream that ignores max_tokens (mock-runaway) is cut off with a final BUDGET_EXHAUSTED event
// once it produced more than the reservation; a stream without a usage chunk is billed from
// what it produced and marked estimated, in the usage table and in the outcome receipt; the
// upstream's own usage wins when it sends one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
    Scope, startGatewayWithYaml, postJson, sseData, receipts, predicate, waitFor,
} from './lib/harness.mjs';

const scope = new Scope();
let gw;
const YAML = `prices:
  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
  mock-runaway: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
budgets:
  default:
    monthly_tokens: 1000000
`;

before(async () => {
    gw = await startGatewayWithYaml(scope, YAML, {
        config: { orgs: { default: ['gpt-4o-mini', 'mock-runaway'] } },
    });
});
after(() => scope.cleanup());

const usageRows = () => execFileSync('sqlite3', ['-json', path.join(gw.dir, 'bulwark.db'),
    'SELECT model, prompt_tokens, completion_tokens, cost_micros, status, estimated, receipt_id FROM usage'],
    { encoding: 'utf8' });
const rows = () => { const t = usageRows().trim(); return t ? JSON.parse(t) : []; };

function outcomeFor(receiptId) {
    const idx = Number(receiptId.split('.')[1]);
    return receipts(gw.dir).map(predicate).find((p) => p.kind === 'outcome' && p.log.index > idx &&
                                                    p.route === 'chat');
}

test('an upstream that ignores max_tokens is cut off at the reservation, billed for what was delivered', async () => {
    const r = await postJson(gw.port, '/v1/chat/completions', {
        model: 'mock-runaway', max_tokens: 3, stream: true,
        messages: [{ role: 'user', content: 'Tell me a long story about budgets.' }],
    }, { key: gw.keys.agent_key });
    assert.equal(r.status, 200);
    const events = sseData(r.text);
    const last = events[events.length - 1];
    assert.match(last, /"code":"BUDGET_EXHAUSTED"/, 'a final error event says why');
    const content = events.filter((e) => e.startsWith('{') && e.includes('"delta"'))
        .map((e) => JSON.parse(e).choices?.[0]?.delta?.content || '').filter(Boolean);
    assert.ok(content.length <= 3, `at most the reserved 3 content chunks reached the client, got ${content.length}`);
    const rid = r.headers['bulwark-receipt-id'];
    await waitFor(() => rows().some((x) => x.receipt_id === rid), { what: 'usage row' });
    const row = rows().find((x) => x.receipt_id === rid);
    assert.equal(row.status, 'budget_cut_off');
    assert.equal(row.estimated, 1);
    assert.ok(row.completion_tokens >= content.length && row.completion_tokens <= 8,
              `billed ${row.completion_tokens} for ${content.length} delivered chunks`);
    const out = outcomeFor(rid);
    assert.equal(out.status, 'budget_cut_off');
    assert.equal(out.usage.source, 'estimated');
    assert.equal(out.usage.completion_tokens, row.completion_tokens);
    assert.equal(out.usage.cost_micros, row.cost_micros);
});

test('a stream without a usage chunk is billed from what it produced, marked estimated', async () => {
    const r = await postJson(gw.port, '/v1/chat/completions', {
        model: 'gpt-4o-mini', max_tokens: 200, stream: true,
        messages: [{ role: 'user', content: 'Say hello.' }],
    }, { key: gw.keys.agent_key });
    assert.equal(r.status, 200);
    const rid = r.headers['bulwark-receipt-id'];
    await waitFor(() => rows().some((x) => x.receipt_id === rid), { what: 'usage row' });
    const row = rows().find((x) => x.receipt_id === rid);
    assert.equal(row.status, 'ok');
    assert.equal(row.estimated, 1);
    assert.ok(row.completion_tokens > 0 && row.completion_tokens < 200, 'what was produced, not the worst case');
    assert.equal(outcomeFor(rid).usage.source, 'estimated');
});

test("the upstream's usage chunk wins over the estimate", async () => {
    const r = await postJson(gw.port, '/v1/chat/completions', {
        model: 'gpt-4o-mini', max_tokens: 200, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Say hello.' }],
    }, { key: gw.keys.agent_key });
    const usage = sseData(r.text).filter((e) => e.startsWith('{')).map((e) => JSON.parse(e))
        .find((j) => j.usage)?.usage;
    assert.ok(usage);
    const rid = r.headers['bulwark-receipt-id'];
    await waitFor(() => rows().some((x) => x.receipt_id === rid), { what: 'usage row' });
    const row = rows().find((x) => x.receipt_id === rid);
    assert.equal(row.estimated, 0);
    assert.equal(row.completion_tokens, usage.completion_tokens);
    const out = outcomeFor(rid);
    assert.equal(out.usage.source, undefined);
    assert.equal(out.usage.total_tokens, usage.total_tokens);
});

// policy_cost: the `cost` matcher reads the worst-case cost that admission reserved, priced
// with the config's price table: a call whose max_tokens makes it too expensive is denied by a
// cost rule, a cheap one is allowed, and a model with no price counts as unbounded cost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, initData, startGatewayWithYaml, postJson } from './lib/harness.mjs';

const scope = new Scope();
let gw;
// gpt-4o: 10 currency units per 1M completion tokens: 100,000 tokens cost at least 1.0
const POLICY = `version: 1
rules:
  - id: too-expensive
    match: {route: chat, cost: {min: 0.5}}
    effect: deny
    reason: COST_OVER_LIMIT
  - id: chat
    match: {route: chat}
    effect: allow
`;

before(async () => {
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    gw = await startGatewayWithYaml(scope, `policy: policy.yaml
prices:
  gpt-4o: {prompt_per_1m_micros: 2500000, completion_per_1m_micros: 10000000}
`, { data, config: { orgs: { default: ['gpt-4o', 'gpt-4o-mini'] } } });
});
after(() => scope.cleanup());

const call = (model, max) => postJson(gw.port, '/v1/chat/completions',
    { model, max_tokens: max, messages: [{ role: 'user', content: 'hi' }] }, { key: gw.keys.agent_key });

test('a call whose reserved worst case costs too much is denied by the cost rule', async () => {
    const r = await call('gpt-4o', 100000);
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error.code, 'COST_OVER_LIMIT');
});

test('a cheap call is allowed', async () => {
    const r = await call('gpt-4o', 50);
    assert.equal(r.status, 200, r.text);
});

test('a model without a price has an unknown cost: above any min (fail closed)', async () => {
    const r = await call('gpt-4o-mini', 10);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'COST_OVER_LIMIT');
});

// tenant_limits: an org's own policy can tighten the operator's restrictions, never loosen or
// starve them (issue 12, item 6).
//   - without a platform policy file, the config's allowed_models (and "org not configured")
//     hold for an org policy that allows everything; with one, its global layer holds;
//   - an org policy that raises the regex limits and uses a pathological pattern gets
//     POLICY_MATCH_LIMIT quickly on a 256 KB request, and another org's calls on the same
//     (single) worker are not held up meanwhile;
//   - an org policy may not reuse a platform rule id; decision receipts name the layer.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, postJson, predicate, receiptAt, request, sha256 } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const ALLOW_ALL = 'version: 1\nrules:\n  - id: everything\n    effect: allow\n';
const chat = (model, content = 'hi') => ({ model, max_tokens: 8, messages: [{ role: 'user', content }] });
const put = (port, key, text) => request(port, {
    method: 'PUT', path: '/api/v1/policies', body: text,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
});
const decisionOf = (w, r) => predicate(receiptAt(w.dir, Number(r.headers['bulwark-receipt-id'].split('.')[1])));

describe('without a platform policy file the config is the operator layer', () => {
    const scope = new Scope();
    let w;
    before(async () => { w = await startTenants(scope, 'sqlite'); });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test("an org policy that allows everything does not lift allowed_models", async () => {
        assert.equal((await put(w.port, w.A.admin, ALLOW_ALL)).status, 200);
        const ok = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: w.A.agent });
        assert.equal(ok.status, 200, ok.text);
        const d = decisionOf(w, ok);
        assert.equal(d.layer, 'org');
        assert.equal(d.rule, 'everything');
        assert.equal(d.org_policy_sha256, sha256(ALLOW_ALL));
        const r = await postJson(w.port, '/v1/chat/completions', chat('gpt-5-secret'), { key: w.A.agent });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'MODEL_NOT_ALLOWED');
        const dr = decisionOf(w, r);
        assert.equal(dr.layer, 'config');
        assert.equal(dr.rule, 'orgs.allowed_models');
        assert.equal(dr.org_policy_sha256, sha256(ALLOW_ALL), 'the org policy in force is named');
    });

    test('an org the config does not list stays denied with its own policy', async () => {
        const before = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: w.B.owner });
        assert.equal(before.status, 403);
        assert.equal(before.json.error.code, 'ORG_NOT_CONFIGURED');
        assert.equal((await put(w.port, w.B.owner, ALLOW_ALL)).status, 200);
        const r = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: w.B.owner });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'ORG_NOT_CONFIGURED');
    });
});

const PLATFORM = `version: 1
global:
  - id: no-secret-models
    match: {model: 'gpt-5*'}
    effect: deny
rules:
  - id: chat-any
    match: {route: chat}
    effect: allow
`;

const slowPolicy = (pattern) => `version: 1
limits: {regex_match_limit: 10000000, regex_depth_limit: 1000000, regex_budget_ms: 10000}
rules:
  - id: slow-${pattern.length}
    match: {content: '${pattern}'}
    effect: deny
  - id: rest
    effect: allow
`;

describe('with a platform policy file', () => {
    const scope = new Scope();
    let w;
    before(async () => {
        w = await startTenants(scope, 'sqlite', {
            yaml: 'policy: policy.yaml\n', files: { 'policy.yaml': PLATFORM }, config: { workers: 1 },
        });
    });
    after(async () => { await w?.stop(); await scope.cleanup(); });

    test("an org policy that allows everything does not lift the global layer", async () => {
        assert.equal((await put(w.port, w.B.owner, ALLOW_ALL)).status, 200);
        const r = await postJson(w.port, '/v1/chat/completions', chat('gpt-5-secret'), { key: w.B.owner });
        assert.equal(r.status, 403, r.text);
        const d = decisionOf(w, r);
        assert.equal(d.rule, 'no-secret-models');
        assert.equal(d.layer, 'global');
        assert.equal(d.policy_sha256, sha256(PLATFORM));
        const ok = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: w.A.agent });
        assert.equal(decisionOf(w, ok).layer, 'rules');
    });

    test('an org policy may not reuse a platform rule id', async () => {
        for (const id of ['chat-any', 'no-secret-models']) {
            const r = await put(w.port, w.B.owner, `version: 1\nrules:\n  - id: ${id}\n    effect: allow\n`);
            assert.equal(r.status, 400, r.text);
            assert.match(r.json.error.message, new RegExp(`policy:3: rule id '${id}'`));
        }
        const g = await api(w.port, 'GET', '/api/v1/policies', w.B.owner);
        assert.equal(g.json.org.sha256, sha256(ALLOW_ALL), 'the refused policy changed nothing');
    });

    // 256 KB of message text: one run of letters without a digit; or 2,600 messages of 100
    // bytes, each "z..zx..xy" (every start position backtracks through the x run: about a
    // millisecond per message under the org's raised limits).
    const letters = () => [{ role: 'user', content: 'a'.repeat(256 * 1024) }];
    const xRuns = () => Array.from({ length: 2600 },
                                   () => ({ role: 'user', content: 'z'.repeat(39) + 'x'.repeat(60) + 'y' }));
    for (const [pattern, messages] of [['[a-z]{1,40000}[0-9]', letters], ['x*x*x*x*x*y(?!$)', xRuns]]) {
        test(`a 256 KB request against ${pattern}: a quick POLICY_MATCH_LIMIT, other orgs unaffected`, async () => {
            const p = await put(w.port, w.B.owner, slowPolicy(pattern));
            assert.equal(p.status, 200, p.text);
            const body = { model: 'gpt-4o-mini', max_tokens: 8, messages: messages() };
            // Another org's calls on the same (only) worker while the big one is decided.
            const other = (async () => {
                const lat = [];
                for (let i = 0; i < 5; i++) {
                    const t0 = process.hrtime.bigint();
                    const r = await postJson(w.port, '/v1/chat/completions', chat('gpt-4o-mini'), { key: w.A.agent });
                    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
                    assert.equal(r.status, 200, r.text);
                }
                return lat;
            })();
            const t0 = process.hrtime.bigint();
            const r = await postJson(w.port, '/v1/chat/completions', body, { key: w.B.owner, timeoutMs: 60000 });
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            const lat = await other;
            assert.equal(r.status, 403, r.text.slice(0, 300));
            assert.equal(r.json.error.code, 'POLICY_MATCH_LIMIT');
            assert.equal(decisionOf(w, r).layer, 'default');
            // The budget is 50 ms of CPU; the rest is reading a 256 KB body on a loaded machine.
            assert.ok(ms < 1500, `the deny took ${ms} ms`);
            assert.ok(Math.max(...lat) < 1500, `another org's calls took ${lat.join(', ')} ms`);
        });
    }
});

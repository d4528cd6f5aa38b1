// pg_spend: spend on PostgreSQL. Calls are metered into the shared usage table (under row-level
// security), GET /api/v1/usage reads them back, a budget is enforced before admission, and a
// restarted gateway restores the month's spend from PostgreSQL, so it stays exhausted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Scope, postJson, assertError, getWithKey, waitFor } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const scope = new Scope();
let w;
const BODY = { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello.' }] };
const WORST = Math.ceil(Buffer.byteLength(JSON.stringify(BODY)) / 4) + 100;
const YAML = `prices:
  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
budgets:
  default:
    monthly_tokens: ${WORST * 3}
`;

before(async () => {
    w = await startTenants(scope, 'pg', {
        yaml: YAML,
        config: { orgs: { default: ['gpt-4o-mini'], orgb: ['gpt-4o-mini'] } },
    });
});
after(async () => { await w?.stop(); await scope.cleanup(); });

async function callUntilRefused(port) {
    let ok = 0, refused = null;
    for (let i = 0; i < 20 && !refused; i++) {
        const r = await postJson(port, '/v1/chat/completions', BODY, { key: w.A.agent });
        if (r.status === 200) ok++;
        else refused = r;
    }
    return { ok, refused };
}

test('calls are metered into PostgreSQL and the budget holds before admission', async () => {
    const { ok, refused } = await callUntilRefused(w.port);
    assert.ok(ok >= 3, `admitted ${ok}`);
    assertError(refused, 429, 'BUDGET_EXHAUSTED');
    await waitFor(async () => {
        const u = await getWithKey(w.port, '/api/v1/usage', w.A.admin);
        return u.status === 200 && u.json.rows?.[0]?.calls === ok;
    }, { what: 'usage rows in PostgreSQL', timeoutMs: 8000 });
    const other = await getWithKey(w.port, '/api/v1/usage', w.B.owner);
    assert.equal(other.status, 200);
    assert.deepEqual(other.json.rows, [], 'org B sees none of org A\'s usage');
});

test('a second org metered after the first: its rows land under its own org, the first org\'s are unchanged', async () => {
    // org A is exhausted by now; org B gets its own agent and spends within its budget while
    // A's calls are refused (refusals are not metered): B's rows and A's rows stay apart.
    const a = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'meter-bot' });
    assert.equal(a.status, 201, a.text);
    const k = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'agent', name: 'meter', agent: 'meter-bot' });
    assert.equal(k.status, 201, k.text);
    const before = await getWithKey(w.port, '/api/v1/usage', w.A.admin);
    const callsA = before.json.rows?.[0]?.calls;
    const rs = await Promise.all([0, 1, 2].map(() =>
        postJson(w.port, '/v1/chat/completions', BODY, { key: k.json.key })));
    const okB = rs.filter((r) => r.status === 200).length;
    assert.ok(okB >= 1, `org B admitted ${okB}: ${rs.map((r) => r.status + ' ' + r.text).join(' | ')}`);
    await waitFor(async () => {
        const u = await getWithKey(w.port, '/api/v1/usage', w.B.owner);
        return u.status === 200 && u.json.rows?.[0]?.calls === okB;
    }, { what: 'org B usage rows in PostgreSQL', timeoutMs: 8000 });
    const after = await getWithKey(w.port, '/api/v1/usage', w.A.admin);
    assert.equal(after.json.rows?.[0]?.calls, callsA, 'org A\'s rows are unchanged');
});

test('a restarted gateway restores the month from PostgreSQL and stays exhausted', async () => {
    await w.proc.stop(3000);
    const proc = scope.spawn(['serve', '--data', w.dir, '--config', path.join(w.dir, 'test-config.yaml'),
                              '--listen', '127.0.0.1:0'], { name: 'serve again' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    const r = await postJson(Number(m[1]), '/v1/chat/completions', BODY, { key: w.A.agent });
    assertError(r, 429, 'BUDGET_EXHAUSTED');
    await proc.stop(3000);
});

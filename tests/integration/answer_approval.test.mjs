// answer_approval: a require_approval tool call made by the model in the answer to an approved
// re-send is delivered (plain and streamed), under the rule the reviewer approved; in the same
// answer a denied call is still dropped, and without an approval the same call is dropped.
// The upstream is a crafted server; the review flow is the real one (review_queue.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, postJson, request, assertError, assertDecision, predicate, waitOutcome, sseData,
    initData, run,
} from './lib/harness.mjs';
import { startCrafted, startPolicyGateway, completion, chunk } from './lib/crafted.mjs';

const POLICY = `version: 1
rules:
  - id: deploy-needs-review
    match: {tool: deploy}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - id: no-shell
    match: {tool: run_shell}
    effect: deny
  - id: chat
    match: {route: chat}
    effect: allow
`;

const scope = new Scope();
let up, gw, agent, reviewer;
before(async () => {
    up = await startCrafted();
    // The reviewer is another person (docs/ACCESS.md "Principals"): a member the admin adds,
    // whose first key the operator issues (an operator key made on the host before serving).
    const data = await initData(scope);
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'op']);
    assert.equal(op.code, 0, op.stderr);
    const opKey = JSON.parse(op.stdout.trim()).key;
    gw = await startPolicyGateway(scope, up, POLICY, { data });
    agent = gw.keys.agent_key;
    const m = await api('POST', '/api/v1/members', gw.keys.admin_key,
                        { email: 'rev@example.com', role: 'reviewer' });
    assert.equal(m.status, 201, m.text);
    const k = await api('POST', `/api/v1/orgs/${gw.keys.org_id}/keys`, opKey,
                        { member_id: m.json.id, role: 'reviewer', name: 'rev' });
    assert.equal(k.status, 201, k.text);
    reviewer = k.json.key;
});
after(async () => {
    await up?.close();
    await scope.cleanup();
});

function api(method, p, key, json) {
    return request(gw.port, {
        method, path: p,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: json === undefined ? undefined : JSON.stringify(json),
    });
}

const tool = (name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
const body = (extra = {}) => JSON.stringify({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: `deploy build ${Math.random()}` }],
    tools: [tool('deploy')], ...extra,
});
const send = (raw, approval) => postJson(gw.port, '/v1/chat/completions', raw, {
    key: agent, headers: approval ? { 'bulwark-approval': approval } : {},
});
const call = (id, name) => ({ id, type: 'function', function: { name, arguments: '{"env":"prod"}' } });

// The request needs approval; a reviewer approves it. Returns the review id.
async function approved(raw) {
    const r = await send(raw);
    const e = assertError(r, 403, 'APPROVAL_REQUIRED', { receipt: true });
    const v = await api('POST', `/api/v1/reviews/${e.review_id}/approve`, reviewer, { comment: 'ok' });
    assert.equal(v.status, 200, v.text);
    return e.review_id;
}

test('an approved re-send delivers the approved rule\'s tool call; a deny in the same answer is dropped', async () => {
    const raw = body();
    const id = await approved(raw);
    up.answer = () => ({ status: 200, json: completion({
        tool_calls: [call('call_d', 'deploy'), call('call_s', 'run_shell')] }) });
    const r = await send(raw, id);
    assert.equal(r.status, 200, r.text);
    const calls = r.json.choices[0].message.tool_calls;
    assert.deepEqual(calls.map((c) => c.function.name), ['deploy'], r.text);
    assert.ok(!r.text.includes('run_shell'));
    const o = predicate(await waitOutcome(gw.dir, assertDecision(r, 'allow', gw.keys)));
    assert.deepEqual(o.tool_calls.map((c) => [c.name, c.decision, c.reason]),
                     [['deploy', 'allow', 'APPROVAL_GRANTED'], ['run_shell', 'deny', 'TOOL_DENIED']]);
});

test('an approved streamed re-send delivers the call too', async () => {
    const raw = body({ stream: true });
    const id = await approved(raw);
    up.answer = () => ({ status: 200, sse: [
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_d', type: 'function',
                                                                  function: { name: 'deploy', arguments: '' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"env":"prod"}' } }] }),
        chunk({}, 'tool_calls'), 'data: [DONE]\n\n'] });
    const r = await send(raw, id);
    assert.equal(r.status, 200, r.text);
    let name = '';
    for (const d of sseData(r.text)) {
        if (d === '[DONE]') continue;
        for (const tc of JSON.parse(d).choices?.[0]?.delta?.tool_calls || []) name += tc.function?.name || '';
    }
    assert.equal(name, 'deploy', r.text);
    const o = predicate(await waitOutcome(gw.dir, assertDecision(r, 'allow', gw.keys)));
    assert.equal(o.tool_calls[0].reason, 'APPROVAL_GRANTED');
});

test('without an approval the same call in an answer is dropped', async () => {
    // no tool declared: the request itself is allowed; the model calls deploy anyway
    up.answer = () => ({ status: 200, json: completion({ tool_calls: [call('call_d', 'deploy')] }) });
    const r = await send(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes('deploy'), r.text);
    const o = predicate(await waitOutcome(gw.dir, assertDecision(r, 'allow', gw.keys)));
    assert.deepEqual(o.tool_calls.map((c) => [c.name, c.decision]), [['deploy', 'require_approval']]);
});

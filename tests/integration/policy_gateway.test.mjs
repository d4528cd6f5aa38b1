// policy_gateway: the rule engine decides calls through the real gateway. Requests, declared
// tools (deny and strip), tool calls in plain answers and in streams (a refused call's name and
// arguments never reach the client), the rule id and policy hash in receipts, and SIGHUP reload
// (a broken policy never replaces the running one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
    Scope, initData, startGatewayWithYaml, postJson, assertError, assertDecision, receiptAt,
    predicate, sha256, waitFor, waitOutcome, sseData,
} from './lib/harness.mjs';

const POLICY = `version: 1
global:
  - id: strip-web-search
    match: {tool: web_search}
    effect: strip
rules:
  - id: read-data-only
    match:
      tool: read_file
      args:
        - {path: $.path, regex: '^/data/'}
    effect: allow
  - id: read-anything-else
    match: {tool: read_file}
    effect: deny
    reason: TOOL_DENIED
  - id: no-shell
    match: {tool: run_shell}
    effect: deny
  - id: big-model
    match: {model: gpt-4o}
    effect: deny
    reason: MODEL_TOO_COSTLY
  - id: chat
    match: {route: chat}
    effect: allow
`;

const tool = (name) => ({
    type: 'function',
    function: { name, parameters: { type: 'object', properties: { path: { type: 'string' } } } },
});
const chat = (content, extra = {}) => ({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra,
});

const scope = new Scope();
after(() => scope.cleanup());
let gw, key, policyPath;

before(async () => {
    const data = await initData(scope);
    policyPath = path.join(data.dir, 'policy.yaml');
    await fsp.writeFile(policyPath, POLICY);
    gw = await startGatewayWithYaml(scope, 'policy: policy.yaml\n', { data });
    key = gw.keys.agent_key;
});

const post = (body) => postJson(gw.port, '/v1/chat/completions', JSON.stringify(body), { key });

test('an allowed call records the deciding rule and the policy file hash', async () => {
    const r = await post(chat('Hello there'));
    assert.equal(r.status, 200, r.text);
    const p = predicate(receiptAt(gw.dir, assertDecision(r, 'allow', gw.keys)));
    assert.equal(p.rule, 'chat');
    assert.equal(p.policy_sha256, sha256(POLICY));
});

test('a denied model answers 403 with the policy\'s own reason code', async () => {
    const r = await post({ ...chat('hi'), model: 'gpt-4o' });
    assertError(r, 403, 'MODEL_TOO_COSTLY', { receipt: true });
    assert.equal(predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys))).rule, 'big-model');
});

test('a request offering a denied tool is denied', async () => {
    const r = await post(chat('hi', { tools: [tool('run_shell')] }));
    assertError(r, 403, 'TOOL_DENIED', { receipt: true });
});

test('a stripped tool is removed before forwarding; the request goes on', async () => {
    // The mock calls the tool the message names if it was offered, else the first one offered.
    const r = await post(chat('/data/x call web_search', { tools: [tool('web_search'), tool('read_file')] }));
    assert.equal(r.status, 200, r.text);
    const calls = r.json.choices[0].message.tool_calls || [];
    assert.equal(calls.length, 1, r.text);
    assert.equal(calls[0].function.name, 'read_file', 'web_search was not stripped before forwarding');
});

test('an allowed tool call in a plain answer reaches the client', async () => {
    const r = await post(chat('/data/report.txt use read_file', { tools: [tool('read_file')] }));
    assert.equal(r.status, 200, r.text);
    const call = r.json.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'read_file');
    assert.match(JSON.parse(call.function.arguments).path, /^\/data\//);
});

test('a refused tool call in a plain answer is removed before the client sees it', async () => {
    const r = await post(chat('read_file /etc/passwd', { tools: [tool('read_file')] }));
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes('/etc/passwd'), 'refused arguments leaked');
    assert.ok(!r.text.includes('"tool_calls":[{'), 'refused call leaked');
    assert.equal(r.json.choices[0].finish_reason, 'stop');
    const outcome = await waitFor(() => {
        const rs = receiptAt(gw.dir, assertDecision(r, 'allow', gw.keys) + 1);
        return rs && predicate(rs).kind === 'outcome' ? rs : null;
    }, { what: 'outcome receipt' });
    assert.equal(predicate(outcome).status, 'ok_tool_calls_removed');
});

test('the outcome receipt lists each decided tool call with its decision and argument hash', async () => {
    const r = await post(chat('/data/report.txt use read_file', { tools: [tool('read_file')] }));
    assert.equal(r.status, 200, r.text);
    const call = r.json.choices[0].message.tool_calls[0];
    const outcome = predicate(await waitOutcome(gw.dir, assertDecision(r, 'allow', gw.keys)));
    assert.deepEqual(outcome.tool_calls, [{
        args_sha256: sha256(call.function.arguments), decision: 'allow', name: 'read_file',
        reason: 'ALLOWED',
    }]);
    assert.equal(outcome.tool_calls_total, 1);

    const s = await post(chat('read_file /etc/passwd', { tools: [tool('read_file')], stream: true }));
    assert.equal(s.status, 200, s.text);
    const so = predicate(await waitOutcome(gw.dir, assertDecision(s, 'allow', gw.keys)));
    assert.equal(so.tool_calls_total, 1);
    assert.equal(so.tool_calls[0].name, 'read_file');
    assert.equal(so.tool_calls[0].decision, 'deny');
    assert.equal(so.tool_calls[0].reason, 'TOOL_DENIED');
    assert.match(so.tool_calls[0].args_sha256, /^[0-9a-f]{64}$/);
});

test('a refused streamed tool call never appears in the bytes the client receives', async () => {
    const body = chat('read_file /etc/passwd', {
        tools: [tool('read_file')], stream: true, stream_options: { include_usage: true },
    });
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes('/etc/passwd'), 'refused arguments leaked into the stream');
    assert.ok(!r.text.includes('read_file'), 'refused tool name leaked into the stream');
    const events = sseData(r.text);
    assert.equal(events[events.length - 1], '[DONE]');
});

test('an allowed streamed tool call is released whole', async () => {
    const r = await post(chat('/data/a.txt use read_file', { tools: [tool('read_file')], stream: true }));
    assert.equal(r.status, 200, r.text);
    let name = '', args = '';
    for (const d of sseData(r.text)) {
        if (d === '[DONE]') continue;
        for (const tc of JSON.parse(d).choices?.[0]?.delta?.tool_calls || []) {
            name += tc.function?.name || '';
            args += tc.function?.arguments || '';
        }
    }
    assert.equal(name, 'read_file');
    assert.match(JSON.parse(args).path, /^\/data\//);
});

test('SIGHUP: a broken policy is refused and the running one stays; a good one takes over', async () => {
    await fsp.writeFile(policyPath, 'version: 1\nrules: [ {id: x, effect: maybe} ]\n');
    gw.proc.kill('SIGHUP');
    await gw.proc.waitStderr(/policy reload refused/);
    assert.equal((await post(chat('hi'))).status, 200);
    const strict = 'version: 1\nrules:\n  - id: nothing\n    match: {route: embeddings}\n    effect: allow\n';
    await fsp.writeFile(policyPath, strict);
    gw.proc.kill('SIGHUP');
    await gw.proc.waitStderr(new RegExp(`sha256 ${sha256(strict)}`));
    const r = await post(chat('hi'));
    assertError(r, 403, 'NO_MATCHING_RULE', { receipt: true });
    assert.equal(predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys))).policy_sha256, sha256(strict));
});

test('serve refuses to start on a broken policy', async () => {
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), 'version: 2\nrules: []\n');
    await assert.rejects(startGatewayWithYaml(scope, 'policy: policy.yaml\n', { data }));
});

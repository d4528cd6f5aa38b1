// request_view: the policy reads the whole request, through the real gateway against a crafted
// upstream that records every body it receives. A stripped tool leaves `tools`, `functions`
// and every force (or the request is refused) and is listed in the outcome receipt as
// TOOL_STRIPPED; content rules see text hidden anywhere the upstream reads (tool and parameter
// descriptions, messages[].name, legacy function_call arguments in the history, a
// response_format schema, metadata, prediction, embeddings input); tool names match
// case-insensitively and names outside ^[A-Za-z0-9_.-]{1,64}$ are refused; a custom tool is
// decided under its own name, never a decoy's; an unknown top-level member is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import {
    Scope, initData, configYaml, postJson, assertError, assertDecision, predicate, waitOutcome,
    receiptAt, run,
} from './lib/harness.mjs';

const POLICY = `version: 1
global:
  - id: no-shell
    match: {tool: 'shell*'}
    effect: deny
  - id: strip-web
    match: {tool: web_search}
    effect: strip
  - id: no-card
    match: {content: '4111\\d{12}'}
    effect: deny
    reason: CONTENT_BLOCKED
  - id: no-secret
    match: {content: 'XYZZY'}
    effect: deny
    reason: CONTENT_BLOCKED
rules:
  - id: all
    effect: allow
`;

const scope = new Scope();
after(() => scope.cleanup());

// The crafted upstream: records each JSON body, answers a plain completion (or embeddings).
const seen = [];
let upstream;
async function startRecorder() {
    const srv = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            seen.push({ path: req.url, text, json: JSON.parse(text) });
            const body = req.url.endsWith('/embeddings')
                ? { object: 'list', model: 'text-embedding-3-small',
                    data: [{ object: 'embedding', index: 0, embedding: [0.5] }],
                    usage: { prompt_tokens: 1, total_tokens: 1 } }
                : { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
                    choices: [{ index: 0, finish_reason: 'stop',
                                message: { role: 'assistant', content: 'ok' } }],
                    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
            const out = JSON.stringify(body);
            res.writeHead(200, { 'content-type': 'application/json',
                                 'content-length': Buffer.byteLength(out) });
            res.end(out);
        });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    return srv;
}

let gw, key;
before(async () => {
    upstream = await startRecorder();
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const configPath = path.join(data.dir, 'test-config.yaml');
    const url = `http://127.0.0.1:${upstream.address().port}/v1`;
    await fsp.writeFile(configPath, configYaml({ upstream: url }) + 'policy: policy.yaml\n');
    const env = { BULWARK_UPSTREAM_KEY: `sk-upstream-${crypto.randomBytes(8).toString('hex')}` };
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath, '--listen',
                              '127.0.0.1:0'], { env, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    gw = { proc, port: Number(m[1]), dir: data.dir, keys: data.keys };
    key = data.keys.agent_key;
});
after(() => upstream && upstream.close());

const fn = (name, extra = {}) => ({ type: 'function', function: { name, ...extra } });
const chat = (extra = {}) => ({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra,
});
const post = (body) => postJson(gw.port, '/v1/chat/completions', JSON.stringify(body), { key });

// Posts body and asserts it was refused with (status, code) and that nothing reached upstream.
async function refused(body, status, code, what) {
    const before = seen.length;
    const r = await post(body);
    assertError(r, status, code);
    assert.equal(seen.length, before, `${what}: the upstream received the request`);
    return r;
}

// The decision receipt's list of the request's tools that were not simply allowed.
const listed = (r) => {
    const p = predicate(receiptAt(gw.dir, Number(r.headers['bulwark-receipt-id'].split('.')[1])));
    return p.tool_calls;
};

// Posts body, asserts 200 and returns the body the upstream received.
async function forwarded(body) {
    const before = seen.length;
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
    assert.equal(seen.length, before + 1, 'the upstream did not receive the request');
    return { r, got: seen[seen.length - 1] };
}

test('a stripped tool reaches the upstream neither in tools nor in functions', async () => {
    const { r, got } = await forwarded(chat({
        tools: [fn('web_search'), fn('calc')],
        functions: [{ name: 'Web_Search' }, { name: 'calc' }],
        tool_choice: 'auto', function_call: 'auto',
    }));
    assert.ok(!/web_search/i.test(got.text), `stripped tool forwarded: ${got.text}`);
    assert.deepEqual(got.json.tools.map((t) => t.function.name), ['calc']);
    assert.deepEqual(got.json.functions.map((f) => f.name), ['calc']);
    // The decision and outcome receipts list the stripped tool with TOOL_STRIPPED.
    const index = assertDecision(r, 'allow', gw.keys);
    const stripped = [{ decision: 'strip', name: 'web_search', reason: 'TOOL_STRIPPED' }];
    const d = predicate(receiptAt(gw.dir, index));
    assert.deepEqual(d.tool_calls, stripped);
    assert.equal(d.tool_calls_total, 1);
    const o = predicate(await waitOutcome(gw.dir, index));
    assert.deepEqual(o.tool_calls, stripped);
    assert.equal(o.tool_calls_total, 1);
});

test('a functions list emptied by strip goes, with its function_call', async () => {
    const { got } = await forwarded(chat({ functions: [{ name: 'web_search' }],
                                           function_call: 'auto' }));
    assert.equal(got.json.functions, undefined, got.text);
    assert.equal(got.json.function_call, undefined, got.text);
});

test('a force or a history call naming a stripped tool is refused (TOOL_STRIP_CONFLICT)', async () => {
    const r = await refused(chat({ functions: [{ name: 'web_search' }, { name: 'calc' }],
                                   function_call: { name: 'web_search' } }),
                            403, 'TOOL_STRIP_CONFLICT', 'forced function_call');
    assert.equal(predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys))).rule, 'strip-web');
    assert.deepEqual(listed(r), [{ decision: 'strip', name: 'web_search', reason: 'TOOL_STRIPPED' }]);
    await refused(chat({ tools: [fn('web_search'), fn('calc')],
                         tool_choice: { type: 'function', function: { name: 'web_search' } } }),
                  403, 'TOOL_STRIP_CONFLICT', 'forced tool_choice');
    await refused(chat({ tools: [fn('calc')], messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: null, function_call: { name: 'web_search', arguments: '{}' } },
        { role: 'function', name: 'web_search', content: 'r' }] }),
                  403, 'TOOL_STRIP_CONFLICT', 'history call');
});

test('a content rule sees text hidden anywhere the upstream reads', async () => {
    const hidden = {
        'tool description': chat({ tools: [fn('calc', { description: 'say XYZZY' })] }),
        'parameter description': chat({ tools: [fn('calc', { parameters: { type: 'object',
            properties: { x: { type: 'string', description: 'XYZZY' } } } })] }),
        'parameter name': chat({ tools: [fn('calc', { parameters: { type: 'object',
            properties: { XYZZY: { type: 'string' } } } })] }),
        'functions description': chat({ functions: [{ name: 'calc', description: 'XYZZY' }] }),
        'messages[].name': chat({ messages: [{ role: 'user', name: 'XYZZY', content: 'hi' }] }),
        'function_call.arguments in history': chat({ messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: null,
              function_call: { name: 'calc', arguments: '{"q":"XYZZY"}' } },
            { role: 'function', name: 'calc', content: '1' }] }),
        'response_format schema': chat({ response_format: { type: 'json_schema', json_schema: {
            name: 'out', schema: { type: 'object', properties: { a: { description: 'XYZZY' } } } } } }),
        metadata: chat({ metadata: { note: 'XYZZY' } }),
        prediction: chat({ prediction: { type: 'content', content: 'XYZZY' } }),
        'refusal part': chat({ messages: [{ role: 'user', content: 'hi' },
            { role: 'assistant', content: [{ type: 'refusal', refusal: 'XYZZY' }] }] }),
        'file data': chat({ messages: [{ role: 'user', content: [
            { type: 'file', file: { filename: 'a.txt', file_data: 'XYZZY' } }] }] }),
    };
    for (const [what, body] of Object.entries(hidden)) {
        const r = await refused(body, 403, 'CONTENT_BLOCKED', what);
        assert.equal(listed(r), undefined, `${what}: a content deny is not a tool's`);
    }
    // the same bodies without the marker go through
    for (const body of Object.values(hidden))
        await forwarded(JSON.parse(JSON.stringify(body).replaceAll('XYZZY', 'plain')));
});

test('embeddings input is read by content rules too', async () => {
    const before = seen.length;
    const r = await postJson(gw.port, '/v1/embeddings',
                             { model: 'text-embedding-3-small', input: ['a', 'XYZZY'] }, { key });
    assertError(r, 403, 'CONTENT_BLOCKED');
    assert.equal(seen.length, before);
    const ok = await postJson(gw.port, '/v1/embeddings',
                              { model: 'text-embedding-3-small', input: 'a' }, { key });
    assert.equal(ok.status, 200, ok.text);
});

test('tool names match case-insensitively: Shell and SHELL_exec are denied by shell*', async () => {
    for (const name of ['Shell', 'SHELL_exec', 'sHeLl']) {
        const r = await refused(chat({ tools: [fn('calc'), fn(name)] }), 403, 'TOOL_DENIED', name);
        assert.deepEqual(listed(r), [{ decision: 'deny', name, reason: 'TOOL_DENIED' }]);
    }
    await refused(chat({ functions: [{ name: 'Shell' }] }), 403, 'TOOL_DENIED', 'functions Shell');
    await refused(chat({ tools: [fn('calc')], tool_choice: { type: 'function',
                                                                function: { name: 'SHELL' } } }),
                  403, 'TOOL_DENIED', 'tool_choice SHELL');
});

test('tool names outside ^[A-Za-z0-9_.-]{1,64}$ are refused', async () => {
    for (const name of ['shell\u200b', 'sh\u0435ll', 'she ll', '', 'x'.repeat(65)])
        await refused(chat({ tools: [fn(name)] }), 400, 'TOOL_NAME_INVALID', JSON.stringify(name));
    await refused(chat({ functions: [{ name: 'shell\u200b' }] }), 400, 'TOOL_NAME_INVALID',
                  'functions');
    const r = await refused(chat({ messages: [{ role: 'user', content: 'hi' },
        { role: 'assistant', tool_calls: [{ id: '1', type: 'function',
            function: { name: 'shell\u200b', arguments: '{}' } }] }] }),
                            400, 'TOOL_NAME_INVALID', 'history call');
    assert.match(r.json.error.message, /tool name/);
    assert.deepEqual(listed(r), [{ decision: 'deny', reason: 'TOOL_NAME_INVALID' }]);
});

test('a custom tool is decided under its own name, never a decoy name', async () => {
    // the real name is custom.name: denied by shell*
    await refused(chat({ tools: [{ type: 'custom', custom: { name: 'shell' } }] }),
                  403, 'TOOL_DENIED', 'custom shell');
    // a decoy function or name beside it cannot be governed: refused
    await refused(chat({ tools: [{ type: 'custom', custom: { name: 'shell' },
                                   function: { name: 'calc' } }] }),
                  400, 'INVALID_REQUEST', 'decoy function');
    await refused(chat({ tools: [{ type: 'custom', name: 'calc', custom: { name: 'shell' } }] }),
                  400, 'INVALID_REQUEST', 'decoy name');
    await refused(chat({ tools: [{ type: 'function', function: { name: 'calc' },
                                   custom: { name: 'shell' } }] }),
                  400, 'INVALID_REQUEST', 'decoy custom');
    // an honest custom tool goes through
    const { got } = await forwarded(chat({ tools: [{ type: 'custom', custom: { name: 'grep' } }] }));
    assert.equal(got.json.tools[0].custom.name, 'grep');
});

test('a top-level member the gateway does not know is refused, not forwarded unread', async () => {
    await refused(chat({ extra_instructions: 'anything' }), 400, 'INVALID_REQUEST', 'unknown member');
    await refused(chat({ prompt: 'x' }), 400, 'INVALID_REQUEST', 'prompt in chat');
});

test('a content rule sees numbers the model is shown (schema enum, default, examples, const, a part)', async () => {
    const CARD = 4111111111111111;
    const prop = (schema) => chat({ tools: [fn('calc', { parameters: { type: 'object',
        properties: { x: schema } } })] });
    const hidden = {
        enum: prop({ type: 'integer', enum: [CARD] }),
        default: prop({ type: 'integer', default: CARD }),
        examples: prop({ type: 'integer', examples: [CARD] }),
        'real enum': prop({ type: 'number', enum: [CARD + 0.5] }),
        const: chat({ response_format: { type: 'json_schema', json_schema: { name: 'o',
            schema: { type: 'object', properties: { a: { const: CARD } } } } } }),
        'text part': chat({ messages: [{ role: 'user', content: [{ type: 'text', text: CARD }] }] }),
        metadata: chat({ metadata: { n: CARD } }),
    };
    for (const [what, body] of Object.entries(hidden))
        await refused(body, 403, 'CONTENT_BLOCKED', what);
    // other numbers go through, and top-level settings are not texts
    for (const body of Object.values(hidden))
        await forwarded(JSON.parse(JSON.stringify(body).replaceAll(String(CARD), '42')));
    await forwarded(chat({ seed: CARD }));
});

test('a role tool message naming a tool is decided like a role function one', async () => {
    await refused(chat({ messages: [{ role: 'user', content: 'hi' },
        { role: 'tool', name: 'Shell_exec', tool_call_id: 'a', content: 'x' }] }), 403, 'TOOL_DENIED',
        'tool message name');
    await refused(chat({ messages: [{ role: 'tool', name: 'shell\u200b', tool_call_id: 'a',
        content: 'x' }] }), 400, 'TOOL_NAME_INVALID', 'tool message name alphabet');
    await forwarded(chat({ messages: [{ role: 'user', content: 'hi' },
        { role: 'tool', name: 'calc', tool_call_id: 'a', content: 'x' }] }));
    await forwarded(chat({ messages: [{ role: 'user', content: 'hi' },
        { role: 'tool', name: null, tool_call_id: 'a', content: 'x' }] }));
});

test('a message member spelled in another case (read by case-insensitive upstreams) is refused', async () => {
    // Go's encoding/json (Ollama, LocalAI) reads "TOOL_CALLS" or "tool_call\u017f" as
    // tool_calls: a history call the view skipped would reach the upstream undecided
    const call = [{ id: 'c1', type: 'function', function: { name: 'shell_exec', arguments: '{}' } }];
    for (const key of ['TOOL_CALLS', 'Tool_Calls', 'tool_call\u017f']) {
        await refused(chat({ messages: [{ role: 'user', content: 'hi' },
            { role: 'assistant', content: null, [key]: call }] }), 400, 'INVALID_REQUEST', key);
    }
    await refused(chat({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant',
        content: null, Function_Call: { name: 'shell_exec', arguments: '{}' } }] }),
                  400, 'INVALID_REQUEST', 'Function_Call');
    await refused(chat({ messages: [{ ROLE: 'user', role: 'user', content: 'hi' }] }),
                  400, 'INVALID_REQUEST', 'ROLE');
    // other members are still free (texts), and the exact spellings are read as before
    await forwarded(chat({ messages: [{ role: 'user', content: 'hi', Extra: 'x' }] }));
});

test('the evidence pack holding these receipts verifies', async () => {
    gw.proc.kill('SIGTERM');
    await gw.proc.exited;
    const pack = path.join(path.dirname(gw.dir), 'pack.tar');
    const ex = await run(['export', '--data', gw.dir, '--out', pack]);
    assert.equal(ex.code, 0, ex.stderr);
    const v = await run(['verify', '--trust', gw.keys.public_key, pack, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(JSON.parse(v.stdout).ok, true);
});

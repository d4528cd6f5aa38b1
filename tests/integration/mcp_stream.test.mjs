// mcp_stream: SSE answers relayed event by event (docs/MCP.md "Streams"), the GET stream, and
// server-to-client requests with sampling decided on route mcp.sampling. The official
// @modelcontextprotocol/sdk client through the real binary, in front of `bulwark mock-mcp`
// (slow: progress over SSE; ask_sampling) and of a crafted server written here that sends
// exactly the SSE a test needs: a huge event, an endless stream, invalid JSON mid-stream, a
// stray tool list, a sampling request the policy denies, a GET stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from
    '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ListRootsRequestSchema, LoggingMessageNotificationSchema } from
    '@modelcontextprotocol/sdk/types.js';
import {
    Scope, initData, startGatewayWithYaml, request, predicate, receipts, waitFor, sleep,
    receiptAt, waitOutcome, RECEIPT_ID_RE, ledgerPath, run,
} from './lib/harness.mjs';
import { startMcpMock } from './lib/mcp.mjs';

const POLICY = `version: 1
rules:
  - id: list-tools
    match: {route: mcp.tools_list}
    effect: allow
  - id: no-forbidden-sampling
    match: {route: mcp.sampling, content: 'forbidden'}
    effect: deny
  - id: no-model-x
    match: {route: mcp.sampling, model: 'model-x*'}
    effect: deny
  - id: sampling
    match: {route: mcp.sampling}
    effect: allow
  - id: no-delete
    match: {route: mcp.tools_call, tool: delete_all}
    effect: deny
  - id: calls
    match: {route: mcp.tools_call}
    effect: allow
`;

const sse = (msg) => `event: message\ndata: ${JSON.stringify(msg)}\n\n`;
const note = (text) => ({ jsonrpc: '2.0', method: 'notifications/message',
                          params: { level: 'info', data: text } });

// ---- the crafted server: every message it receives is kept; its streams are recorded ----
const seen = [];
const closes = { call: [], get: [] }; // the gateway closed a stream before its end
let sessions = 0;
let flooded = 0; // bytes the flood tool has written so far
const signal = {};
signal.promise = new Promise((r) => { signal.go = r; });
const waiters = new Map(); // id of a server request -> resolve(the client's response)

function crafted(req, res) {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
        let msg;
        try { msg = body ? JSON.parse(body) : undefined; } catch { msg = undefined; }
        seen.push({ method: req.method, headers: req.headers, msg });
        if (req.method === 'GET') return getStream(req, res);
        if (req.method === 'DELETE') return res.writeHead(200).end();
        if (req.method !== 'POST' || !msg) return res.writeHead(400).end();
        if (msg.id !== undefined && msg.method === undefined) { // a response to our request
            waiters.get(msg.id)?.(msg);
            return res.writeHead(202).end();
        }
        if (msg.id === undefined) return res.writeHead(202).end();
        const answer = (result) => ({ jsonrpc: '2.0', id: msg.id, result });
        if (msg.method === 'initialize') {
            sessions++;
            res.writeHead(200, { 'content-type': 'application/json',
                                 'mcp-session-id': `upstream-${sessions}` });
            return res.end(JSON.stringify(answer({
                protocolVersion: msg.params.protocolVersion,
                capabilities: { tools: {}, logging: {} },
                serverInfo: { name: 'crafted', version: '1.0.0' },
            })));
        }
        if (msg.method === 'tools/list') {
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify(answer({ tools: ['timed', 'huge', 'endless', 'badjson',
                'stray_list', 'ask_denied', 'ask_model_x', 'delete_all'].map((name) => ({
                name, inputSchema: { type: 'object' } })) })));
        }
        if (msg.method !== 'tools/call') {
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id,
                                             error: { code: -32601, message: 'unknown' } }));
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.on('close', () => { if (!res.writableFinished) closes.call.push(msg.params.name); });
        return tools[msg.params.name](msg, res, answer);
    });
}

const tools = {
    // three notifications 300 ms apart, then the result
    async timed(msg, res, answer) {
        for (let i = 0; i < 3; i++) {
            res.write(`: comment ${i}\nid: ev-${i}\n` + sse(note(`step ${i}`)));
            await sleep(300);
        }
        res.end(sse(answer({ content: [{ type: 'text', text: 'timed done' }] })));
    },
    huge(msg, res, answer) { // one event over mcp.result_max_bytes (1 MiB)
        res.write(sse(note('before the huge one')));
        res.end(sse(answer({ content: [{ type: 'text', text: 'x'.repeat(2 << 20) }] })));
    },
    endless(msg, res) { // notifications for ever, never an answer
        let i = 0;
        const t = setInterval(() => {
            if (res.destroyed) return clearInterval(t);
            res.write(sse(note(`tick ${i++}`)));
        }, 20);
        res.on('close', () => clearInterval(t));
    },
    async badjson(msg, res) {
        res.write(sse(note('fine so far')));
        await sleep(200);
        res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message",\n\n');
        await sleep(2000); // the gateway must not wait for this
        res.end(sse({ jsonrpc: '2.0', id: msg.id, result: { content: [] } }));
    },
    stray_list(msg, res) { // a tools/list result labelled with another request's id
        res.write(sse({ jsonrpc: '2.0', id: 424242, result: { tools: [
            { name: 'delete_all', inputSchema: { type: 'object' } }] } }));
        res.end(sse({ jsonrpc: '2.0', id: msg.id, result: { content: [] } }));
    },
    async flood(msg, res, answer) { // 32 MiB of notifications as fast as the gateway takes them
        const pad = 'y'.repeat(64 << 10);
        flooded = 0;
        for (let i = 0; i < 512 && !res.destroyed; i++) {
            const ev = sse(note(`${i} ${pad}`));
            flooded += ev.length;
            if (!res.write(ev)) await new Promise((r) => res.once('drain', r));
        }
        res.end(sse(answer({ content: [{ type: 'text', text: 'flood done' }] })));
    },
    async ask_on_signal(msg, res, answer) { // asks once the test says so
        res.write(': waiting\n\n');
        await signal.promise;
        return askSampling(msg, res, answer, 'hello', undefined);
    },
    stall(msg, res) { // one notification, then silence (the server never closes)
        res.write(sse(note('then silence')));
    },
    ask_denied(msg, res, answer) { return askSampling(msg, res, answer, 'say forbidden words', undefined); },
    ask_model_x(msg, res, answer) { return askSampling(msg, res, answer, 'hello', 'model-x-large'); },
};

// A sampling request on the call's stream; the result reports the response the server got.
async function askSampling(msg, res, answer, text, model) {
    const id = `srv-${crypto.randomBytes(4).toString('hex')}`;
    const got = new Promise((resolve) => {
        waiters.set(id, resolve);
        setTimeout(() => resolve(null), 5000);
    });
    const params = { messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens: 10 };
    if (model) params.modelPreferences = { hints: [{ name: model }] };
    res.write(sse({ jsonrpc: '2.0', id, method: 'sampling/createMessage', params }));
    const response = await got;
    res.end(sse(answer({ content: [{ type: 'text', text: JSON.stringify(response) }] })));
}

function getStream(req, res) {
    if (!req.headers['mcp-session-id']) return res.writeHead(400).end();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sse(note('hello from the GET stream')));
    // a server request on the GET stream: the client's answer comes back as a POST
    res.write(sse({ jsonrpc: '2.0', id: `roots-${req.headers['mcp-session-id']}`, method: 'roots/list' }));
    const t = setInterval(() => res.write(': ping\n\n'), 500);
    res.on('close', () => {
        clearInterval(t);
        closes.get.push(req.headers['mcp-session-id']);
    });
}

// ---- setup ----
const scope = new Scope();
let gw, server, mock, agentKey, adminKey;
after(async () => {
    server?.close();
    server?.closeAllConnections?.();
    await scope.cleanup();
});

before(async () => {
    server = http.createServer(crafted);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    mock = await startMcpMock(scope);
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const port = server.address().port;
    gw = await startGatewayWithYaml(scope, `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${port}", "127.0.0.1:${mock.port}"]
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${port}/mcp
    - name: mock
      url: ${mock.url}
  result_max_bytes: 1048576
  call_timeout_ms: 3000
`, { data });
    agentKey = gw.keys.agent_key;
    adminKey = gw.keys.admin_key;
});

const mcpUrl = (name) => `http://127.0.0.1:${gw.port}/mcp/${name}`;
async function connect(name, { key = agentKey, capabilities = {}, setup } = {}) {
    const client = new Client({ name: 'bulwark-test', version: '1.0.0' }, { capabilities });
    setup?.(client);
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl(name)), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
    });
    await client.connect(transport);
    return { client, transport };
}

// A raw POST of one tools/call on a session; resolves {status, headers, chunks:[{t, text}], body}.
function rawCall(name, sid, tool, { onChunk, onResponse, port = gw.port, key = agentKey } = {}) {
    return new Promise((resolve, reject) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call',
                                      params: { name: tool, arguments: {} } });
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/mcp/${name}`,
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json',
                       accept: 'application/json, text/event-stream', 'mcp-session-id': sid,
                       'mcp-protocol-version': '2025-06-18' } }, (res) => {
            const chunks = [];
            onResponse?.(res);
            res.on('data', (d) => {
                chunks.push({ t: Date.now(), text: d.toString() });
                onChunk?.(req, chunks);
            });
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, chunks,
                                          body: chunks.map((c) => c.text).join('') }));
            res.on('error', () => resolve({ status: res.statusCode, chunks, aborted: true }));
        });
        req.on('error', reject);
        req.end(body);
    });
}
const events = (body) => body.split('\n\n').filter(Boolean).map((e) => {
    const d = e.split('\n').find((l) => l.startsWith('data: '));
    return d ? JSON.parse(d.slice(6)) : null;
});
const lastDecision = (route) => receipts(gw.dir).filter((r) => predicate(r).route === route &&
                                                          predicate(r).kind === 'decision').pop();
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

// A second gateway: result cap 64 MiB, call timeout 60 s (so the idle bound, 30 s, is shorter).
let bigGw;
async function bigGateway() {
    if (bigGw) return bigGw;
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    bigGw = await startGatewayWithYaml(scope, `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${server.address().port}"]
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${server.address().port}/mcp
  result_max_bytes: 67108864
  call_timeout_ms: 60000
`, { data });
    return bigGw;
}

// ---- tests ----
test('progress notifications reach the SDK while the slow tool runs, before its result', async () => {
    const { client } = await connect('mock');
    const t0 = Date.now();
    const progress = [];
    const r = await client.callTool({ name: 'slow', arguments: { steps: 6 } }, undefined,
                                    { onprogress: (p) => progress.push({ ...p, t: Date.now() }) });
    const tEnd = Date.now();
    assert.equal(r.content[0].text, 'slow done after 6 steps');
    assert.equal(progress.length, 6);
    // relayed as they came: the first one arrived about 500 ms before the result, not with it
    assert.ok(tEnd - progress[0].t >= 300,
              `first progress ${progress[0].t - t0} ms, result ${tEnd - t0} ms`);
    for (let i = 1; i < 6; i++) assert.ok(progress[i].t >= progress[i - 1].t);
    const d = lastDecision('mcp.tools_call');
    const o = await waitOutcome(gw.dir, predicate(d).log.index);
    assert.equal(predicate(o).status, 'ok');
    await client.close();
});

test('each event is sent on at once, re-framed; the outcome receipt hashes what was relayed', async () => {
    const { client, transport } = await connect('crafted');
    const r = await rawCall('crafted', transport.sessionId, 'timed');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    assert.equal(r.headers['cache-control'], 'private, no-store');
    const times = r.chunks.map((c) => c.t);
    assert.ok(times[times.length - 1] - times[0] >= 500, 'spread over the tool\'s 900 ms');
    // ids, comments and the server's framing are not relayed: one `event: message` per message
    assert.ok(!/id: |: comment/.test(r.body));
    const ev = events(r.body);
    assert.deepEqual(ev.map((e) => e.params?.data ?? e.result?.content[0].text),
                     ['step 0', 'step 1', 'step 2', 'timed done']);
    const d = lastDecision('mcp.tools_call');
    const o = await waitOutcome(gw.dir, predicate(d).log.index);
    assert.equal(predicate(o).status, 'ok');
    assert.equal(predicate(o).response_sha256, sha256(r.body));
    await client.close();
});

test('an event over the size bound ends the stream with a JSON-RPC error event and a receipt', async () => {
    const { client } = await connect('crafted');
    const logs = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        if (!/GET stream/.test(n.params.data)) logs.push(n.params.data);
    });
    await assert.rejects(client.callTool({ name: 'huge', arguments: {} }), (e) => {
        assert.equal(e.code, -32002);
        assert.equal(e.data.code, 'MCP_RESULT_TOO_LARGE');
        assert.match(e.data.receipt_id, RECEIPT_ID_RE);
        return true;
    });
    assert.deepEqual(logs, ['before the huge one'], 'what came before the bound was relayed');
    const o = await waitOutcome(gw.dir, predicate(lastDecision('mcp.tools_call')).log.index);
    assert.equal(predicate(o).status, 'result_too_large');
    await client.close();
});

test('an endless stream is ended at the call timeout; the server\'s stream is closed', async () => {
    const { client } = await connect('crafted');
    let ticks = 0;
    client.setNotificationHandler(LoggingMessageNotificationSchema, () => { ticks++; });
    const t0 = Date.now();
    await assert.rejects(client.callTool({ name: 'endless', arguments: {} }, undefined,
                                         { timeout: 20000 }),
                         (e) => e.code === -32002 && e.data.code === 'UPSTREAM_TIMEOUT');
    const took = Date.now() - t0;
    assert.ok(took >= 2500 && took < 10000, `ended after ${took} ms (call_timeout_ms 3000)`);
    assert.ok(ticks > 10, 'the notifications were relayed meanwhile');
    await waitFor(() => closes.call.includes('endless'), { what: 'the upstream stream closed' });
    const o = await waitOutcome(gw.dir, predicate(lastDecision('mcp.tools_call')).log.index);
    assert.equal(predicate(o).status, 'upstream_timeout');
    await client.close();
});

test('invalid JSON mid-stream ends it at once with MCP_UPSTREAM_INVALID', async () => {
    const { client } = await connect('crafted');
    const logs = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        if (!/GET stream/.test(n.params.data)) logs.push(n.params.data);
    });
    const t0 = Date.now();
    await assert.rejects(client.callTool({ name: 'badjson', arguments: {} }),
                         (e) => e.code === -32002 && e.data.code === 'MCP_UPSTREAM_INVALID');
    assert.ok(Date.now() - t0 < 1800, 'not waiting for the server to finish');
    assert.deepEqual(logs, ['fine so far']);
    const o = await waitOutcome(gw.dir, predicate(lastDecision('mcp.tools_call')).log.index);
    assert.equal(predicate(o).status, 'upstream_invalid');
    await client.close();
});

test('a tool list for another request id inside a call\'s stream is refused, never relayed', async () => {
    const { client, transport } = await connect('crafted');
    const r = await rawCall('crafted', transport.sessionId, 'stray_list');
    assert.equal(r.status, 200);
    assert.ok(!r.body.includes('delete_all'), r.body);
    const ev = events(r.body);
    assert.equal(ev.length, 1);
    assert.equal(ev[0].id, 7);
    assert.equal(ev[0].error.data.code, 'MCP_UPSTREAM_INVALID');
    await client.close();
});

test('an allowed sampling request reaches the client\'s handler and its answer the server; receipted', async () => {
    const asked = [];
    const { client } = await connect('mock', {
        capabilities: { sampling: {} },
        setup: (c) => c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
            asked.push(req.params);
            return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'Paris' } };
        }),
    });
    const r = await client.callTool({ name: 'ask_sampling', arguments: { prompt: 'capital of France?' } });
    assert.equal(asked.length, 1);
    assert.equal(asked[0].messages[0].content.text, 'capital of France?');
    assert.match(r.content[0].text, /Paris/);
    assert.ok(!r.isError);
    // the sampling receipt is appended when decided; the relay does not wait for it
    const d = await waitFor(() => receipts(gw.dir).find((x) => predicate(x).route === 'mcp.sampling' &&
                                                         predicate(x).rule === 'sampling'),
                            { what: 'the sampling receipt' });
    assert.equal(predicate(d).decision, 'allow');
    assert.equal(predicate(d).rule, 'sampling');
    await client.close();
});

for (const [tool, rule] of [['ask_denied', 'no-forbidden-sampling'], ['ask_model_x', 'no-model-x']]) {
    test(`a denied sampling request (${rule}) never reaches the client; the server gets an error`, async () => {
        const asked = [];
        const { client } = await connect('crafted', {
            capabilities: { sampling: {} },
            setup: (c) => c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
                asked.push(req.params);
                return { role: 'assistant', model: 'm', content: { type: 'text', text: 'leaked' } };
            }),
        });
        const r = await client.callTool({ name: tool, arguments: {} });
        assert.equal(asked.length, 0, 'the client never saw it');
        const got = JSON.parse(r.content[0].text);
        assert.ok(got, 'the server got an answer to its request');
        assert.equal(got.error.code, -1);
        assert.ok(!('result' in got));
        const refusal = seen.filter((s) => s.method === 'POST' && s.msg?.id === got.id && s.msg.error).pop();
        assert.ok(refusal.headers['mcp-session-id'].startsWith('upstream-'), 'sent on the session');
        assert.equal(refusal.headers.authorization, undefined, 'no caller token upstream');
        const d = await waitFor(() => receipts(gw.dir).find((x) => predicate(x).route === 'mcp.sampling' &&
                                                             predicate(x).rule === rule),
                                { what: 'the sampling receipt' });
        assert.equal(predicate(d).decision, 'deny');
        assert.equal(predicate(d).rule, rule);
        assert.equal(predicate(d).model, 'crafted');
        assert.equal(got.error.data.code, predicate(d).reason);
        await client.close();
    });
}

test('GET: the session\'s stream is relayed to the SDK; hang-up closes the upstream\'s', async () => {
    const logs = [];
    const { client, transport } = await connect('crafted', {
        capabilities: { roots: {} },
        setup: (c) => {
            c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params.data));
            c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///data', name: 'data' }] }));
        },
    });
    await waitFor(() => logs.includes('hello from the GET stream'), { what: 'the GET stream event' });
    const sid = transport.sessionId;
    const gets = seen.filter((s) => s.method === 'GET');
    const upstreamSid = gets[gets.length - 1].headers['mcp-session-id'];
    assert.match(upstreamSid, /^upstream-/);
    assert.notEqual(upstreamSid, sid);
    const answer = await waitFor(() => seen.find((x) => x.msg?.id === `roots-${upstreamSid}`),
                                 { what: 'the client\'s answer to roots/list' });
    assert.deepEqual(answer.msg.result, { roots: [{ uri: 'file:///data', name: 'data' }] });
    await transport.terminateSession?.();
    await client.close();
    await waitFor(() => closes.get.includes(upstreamSid), { what: 'the upstream GET stream closed' });
});

test('GET is bound to the session: none 400, another key\'s 404, Last-Event-ID 400, 405 passed on', async () => {
    const { client, transport } = await connect('crafted');
    const sid = transport.sessionId;
    const get = (name, headers, key = agentKey) => request(gw.port, {
        method: 'GET', path: `/mcp/${name}`, timeoutMs: 3000,
        headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...headers } });
    assert.equal((await get('crafted', {})).status, 400);
    assert.equal((await get('crafted', { 'mcp-session-id': sid }, adminKey)).status, 404);
    assert.equal((await get('crafted', { 'mcp-session-id': sid, 'last-event-id': 'ev-1' })).status, 400);
    await client.close();
    // mock-mcp offers no GET stream: its 405 is the client's
    const m = await connect('mock');
    const r = await get('mock', { 'mcp-session-id': m.transport.sessionId });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST, DELETE');
    await m.client.close();
});

test('a client that hangs up mid-stream cancels the upstream transfer; the receipt says so', async () => {
    const { client, transport } = await connect('crafted');
    const before = closes.call.filter((n) => n === 'endless').length;
    await rawCall('crafted', transport.sessionId, 'endless', {
        onChunk: (req, chunks) => { if (chunks.length === 2) req.destroy(); },
    }).catch(() => {});
    await waitFor(() => closes.call.filter((n) => n === 'endless').length > before,
                  { timeoutMs: 2000, what: 'the upstream stream closed after the hang-up' });
    const o = await waitOutcome(gw.dir, predicate(lastDecision('mcp.tools_call')).log.index);
    assert.equal(predicate(o).status, 'client_disconnected');
    await client.close();
});

test('a denied tools/call still never reaches the server (streams change nothing before it)', async () => {
    const { client } = await connect('crafted');
    await assert.rejects(client.callTool({ name: 'delete_all', arguments: {} }),
                         (e) => e.code === -32001);
    assert.ok(!seen.some((s) => s.msg?.params?.name === 'delete_all'));
    const d = receiptAt(gw.dir, predicate(lastDecision('mcp.tools_call')).log.index);
    assert.equal(predicate(d).decision, 'deny');
    await client.close();
});

test('back-pressure: a client that does not read pauses the upstream; reading resumes it', async () => {
    // a gateway whose result cap (64 MiB) lets the 32 MiB flood through: only the client's
    // reading can hold it back
    const big = await bigGateway();
    const key = big.keys.agent_key;
    const client = new Client({ name: 'bulwark-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(
        new URL(`http://127.0.0.1:${big.port}/mcp/crafted`),
        { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
    await client.connect(transport);
    let resp;
    let received = 0;
    const done = rawCall('crafted', transport.sessionId, 'flood', {
        port: big.port, key,
        onResponse: (res) => { resp = res; res.pause(); },
        onChunk: (req, chunks) => { received += chunks[chunks.length - 1].text.length; chunks.length = 0; },
    });
    await waitFor(() => resp && flooded > 0, { what: 'the flood started' });
    // wait until the server cannot write any more (stable for a second)
    let last = -1;
    let since = Date.now();
    await waitFor(() => {
        if (flooded !== last) {
            last = flooded;
            since = Date.now();
        }
        return Date.now() - since > 1000;
    }, { timeoutMs: 30000, intervalMs: 100, what: 'the flood to stall' });
    // held back: the upstream stopped being read (only socket buffers took bytes), long before
    // the 32 MiB; without back-pressure the gateway reads on and buffers it all for the client
    assert.ok(flooded < (30 << 20), `the server wrote ${flooded} bytes to a client that reads nothing`);
    resp.resume();
    const r = await done;
    assert.equal(r.status, 200);
    assert.ok(flooded > (32 << 20), 'reading let the whole flood through');
    assert.ok(received > (32 << 20), `the client got ${received} bytes`);
    await client.close();
});

test('the client\'s POSTed responses to server requests: strict, passed on, 202', async () => {
    const { client, transport } = await connect('crafted');
    const post = (msg) => request(gw.port, {
        method: 'POST', path: '/mcp/crafted', body: JSON.stringify(msg),
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json',
                   accept: 'application/json, text/event-stream',
                   'mcp-session-id': transport.sessionId, 'mcp-protocol-version': '2025-06-18' } });
    const ok = await post({ jsonrpc: '2.0', id: 'srv-answer-1', result: { roots: [] } });
    assert.equal(ok.status, 202);
    const got = seen.filter((s) => s.msg?.id === 'srv-answer-1');
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].msg, { jsonrpc: '2.0', id: 'srv-answer-1', result: { roots: [] } });
    assert.equal(got[0].headers['mcp-session-id'].startsWith('upstream-'), true);
    // both result and error, no id, an extra member: refused before the server sees them
    for (const bad of [{ jsonrpc: '2.0', id: 'srv-answer-2', result: {}, error: { code: 1, message: 'x' } },
                       { jsonrpc: '2.0', result: {} },
                       { jsonrpc: '2.0', id: 'srv-answer-3', result: {}, extra: 1 }]) {
        const r = await post(bad);
        assert.equal(r.status, 400, JSON.stringify(bad));
        assert.equal(r.json.error.code, -32600);
    }
    assert.ok(!seen.some((s) => ['srv-answer-2', 'srv-answer-3'].includes(s.msg?.id)));
    await client.close();
});

test('an allowed sampling request whose receipt cannot be written never reaches the client', async () => {
    // a gateway without a preallocated runway: once its file size is capped, every append fails
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const g = await startGatewayWithYaml(scope, `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${server.address().port}"]
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${server.address().port}/mcp
  call_timeout_ms: 10000
`, { data, config: { preallocateBytes: 0 } });
    const prlimit = (v) => execFileSync('prlimit', ['--pid', String(g.pid), `--fsize=${v}:`]);
    const asked = [];
    const client = new Client({ name: 'bulwark-test', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        asked.push(req.params);
        return { role: 'assistant', model: 'm', content: { type: 'text', text: 'leaked' } };
    });
    const transport = new StreamableHTTPClientTransport(
        new URL(`http://127.0.0.1:${g.port}/mcp/crafted`),
        { requestInit: { headers: { Authorization: `Bearer ${g.keys.agent_key}` } } });
    await client.connect(transport);
    const call = client.callTool({ name: 'ask_on_signal', arguments: {} });
    call.catch(() => {});
    await waitFor(() => seen.some((x) => x.msg?.params?.name === 'ask_on_signal'),
                  { what: 'the call forwarded (its decision receipt is durable)' });
    await sleep(200); // the decision's own append is done; nothing else is writing
    prlimit(fs.statSync(ledgerPath(g.dir)).size);
    try {
        signal.go();
        await assert.rejects(call, (e) => e.code === -32002 && e.data.code === 'LEDGER_UNAVAILABLE');
        assert.equal(asked.length, 0, 'the client never saw the sampling request');
        const refusal = await waitFor(() => seen.find((x) => x.msg?.error?.data?.code === 'LEDGER_UNAVAILABLE'),
                                      { what: 'the server told' });
        assert.equal(refusal.msg.error.code, -1);
    } finally {
        prlimit('unlimited');
    }
    await client.close();
});

test('a session holds at most 2 GET streams at once (each holds one from the server)', async () => {
    const { client, transport } = await connect('crafted');
    const sid = transport.sessionId;
    const open = () => new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'GET', path: '/mcp/crafted',
            headers: { authorization: `Bearer ${agentKey}`, accept: 'text/event-stream',
                       'mcp-session-id': sid } }, (res) => {
            res.once('data', () => resolve({ req, status: res.statusCode }));
            if (res.statusCode !== 200) res.resume();
            res.on('end', () => resolve({ req, status: res.statusCode }));
        });
        req.on('error', reject);
        req.end();
    });
    // the SDK's own GET stream is one; one more fits
    await waitFor(() => seen.filter((s) => s.method === 'GET').length > 0, { what: 'the SDK GET' });
    const second = await open();
    assert.equal(second.status, 200);
    const third = await open();
    assert.equal(third.status, 429);
    second.req.destroy(); // its slot is released when the gateway notices
    await waitFor(async () => {
        const again = await open();
        if (again.status === 200) again.req.destroy();
        return again.status === 200;
    }, { what: 'a slot again after a stream closed' });
    await client.close();
});

test('the GET stream cap holds under concurrent opens (both workers): exactly 2', async () => {
    const init = await request(gw.port, {
        method: 'POST', path: '/mcp/crafted',
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json',
                   accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
            protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    assert.equal(init.status, 200);
    const sid = init.headers['mcp-session-id'];
    const open = () => new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'GET', path: '/mcp/crafted',
            agent: false, headers: { authorization: `Bearer ${agentKey}`, accept: 'text/event-stream',
                                     'mcp-session-id': sid } }, (res) => {
            res.once('data', () => resolve({ req, status: res.statusCode }));
            res.on('end', () => resolve({ req, status: res.statusCode }));
        });
        req.on('error', reject);
        req.end();
    });
    const all = await Promise.all(Array.from({ length: 8 }, open));
    assert.deepEqual(all.map((r) => r.status).sort(), [200, 200, 429, 429, 429, 429, 429, 429]);
    for (const r of all) r.req.destroy();
});

test('every receipt of the streams above (sampling decisions, streamed outcomes) verifies in a pack', async () => {
    const routes = receipts(gw.dir).map((x) => predicate(x));
    assert.ok(routes.some((p) => p.route === 'mcp.sampling' && p.decision === 'allow'));
    assert.ok(routes.some((p) => p.route === 'mcp.sampling' && p.decision === 'deny'));
    assert.ok(routes.some((p) => p.kind === 'outcome' && p.route === 'mcp.tools_call'));
    const pack = path.join(path.dirname(gw.dir), 'stream-pack.tar');
    const ex = await run(['export', '--data', gw.dir, '--out', pack]);
    assert.equal(ex.code, 0, ex.stderr);
    const v = await run(['verify', '--trust', gw.keys.public_key, pack, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const rep = JSON.parse(v.stdout);
    assert.equal(rep.ok, true);
    for (const c of rep.checks.filter((x) => x.name !== 'receipt-signatures'))
        assert.equal(c.status, 'pass', `${c.name}: ${c.detail}`);
});

test('a stream silent for the idle bound (30 s, under a 60 s call timeout) is ended', { timeout: 80000 }, async () => {
    const big = await bigGateway();
    const client = new Client({ name: 'bulwark-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(
        new URL(`http://127.0.0.1:${big.port}/mcp/crafted`),
        { requestInit: { headers: { Authorization: `Bearer ${big.keys.agent_key}` } } });
    await client.connect(transport);
    const t0 = Date.now();
    await assert.rejects(client.callTool({ name: 'stall', arguments: {} }, undefined, { timeout: 70000 }),
                         (e) => e.code === -32002 && e.data.code === 'UPSTREAM_TIMEOUT');
    const took = Date.now() - t0;
    assert.ok(took >= 29000 && took < 50000, `ended after ${took} ms`);
    await waitFor(() => closes.call.includes('stall'), { what: 'the upstream stream closed' });
    await client.close();
});

// mcp_gateway: the MCP gateway core (docs/MCP.md "Gateway") with the official
// @modelcontextprotocol/sdk client through the real binary, in front of a crafted MCP server
// written here (initialize, tools/list as an SSE answer with 4 tools, tools/call as JSON) that
// records everything it receives. tools/list filtered, allowed and denied tools/call with
// receipts, sessions bound to their key, 401, batches, Mcp-Method/Mcp-Name mismatch, protocol
// version, Origin, and the caller's Authorization never reaching the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from
    '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
    Scope, initData, startGatewayWithYaml, request, receiptAt, predicate, waitOutcome, receipts,
    RECEIPT_ID_RE, run,
} from './lib/harness.mjs';
import { api, person } from './lib/tenants.mjs';

const POLICY = `version: 1
global:
  - id: strip-shell
    match: {tool: shell}
    effect: strip
rules:
  - id: list-tools
    match: {route: mcp.tools_list}
    effect: allow
  - id: no-delete
    match: {route: mcp.tools_call, tool: delete_all}
    effect: deny
    reason: TOOL_DENIED
  - id: read-data-only
    match:
      route: mcp.tools_call
      tool: read_file
      args:
        - {path: $.path, regex: '^/data/'}
    effect: allow
  - id: read-anything-else
    match: {route: mcp.tools_call, tool: read_file}
    effect: deny
    reason: TOOL_DENIED
  - id: deploy-needs-review
    match: {route: mcp.tools_call, tool: deploy}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - id: other-calls
    match: {route: mcp.tools_call}
    effect: allow
`;

const TOOLS = ['echo', 'delete_all', 'read_file', 'shell'].map((name) => ({
    name,
    description: `the ${name} tool`,
    inputSchema: { type: 'object', properties: { text: { type: 'string' }, path: { type: 'string' } } },
}));

// The crafted upstream MCP server: every request it receives is kept in `seen`.
const seen = [];
let upstreamSessions = 0;
function mcpServer(req, res) {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
        let msg;
        try { msg = body ? JSON.parse(body) : undefined; } catch { msg = undefined; }
        seen.push({ method: req.method, headers: req.headers, msg });
        if (req.method === 'DELETE') return res.writeHead(200).end();
        if (req.method !== 'POST' || !msg) return res.writeHead(405).end();
        if (msg.id === undefined) return res.writeHead(202).end(); // a notification
        const answer = (result) => ({ jsonrpc: '2.0', id: msg.id, result });
        switch (msg.method) {
        case 'initialize': {
            upstreamSessions++;
            res.writeHead(200, { 'content-type': 'application/json',
                                 'mcp-session-id': `upstream-session-${upstreamSessions}` });
            return res.end(JSON.stringify(answer({
                protocolVersion: msg.params.protocolVersion,
                capabilities: { tools: {} },
                serverInfo: { name: 'crafted', version: '1.0.0' },
            })));
        }
        case 'tools/list': // the SSE answer: a notification first, then the result
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write(': keep-alive\n\n');
            res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'listing' } })}\n\n`);
            return res.end(`event: message\nid: 1\ndata: ${JSON.stringify(answer({ tools: TOOLS }))}\n\n`);
        case 'tools/call':
            if (msg.params.name === 'huge') { // over the gateway's 8 MiB answer cap
                res.writeHead(200, { 'content-type': 'application/json' });
                return res.end(JSON.stringify(answer({ content: [{ type: 'text', text: 'x'.repeat(9 << 20) }] })));
            }
            if (msg.params.name === 'fails') { // a tool error: its outcome says so
                res.writeHead(200, { 'content-type': 'application/json' });
                return res.end(JSON.stringify(answer({ isError: true, content: [{ type: 'text', text: 'no' }] })));
            }
            if (msg.params.name === 'garbage') {
                res.writeHead(200, { 'content-type': 'application/json' });
                return res.end('{"jsonrpc":"2.0","id":1,"result":{},"result":{}}');
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify(answer({
                content: [{ type: 'text', text: `called ${msg.params.name} ${JSON.stringify(msg.params.arguments || {})}` }],
            })));
        default:
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id,
                                             error: { code: -32601, message: 'unknown method' } }));
        }
    });
}

const scope = new Scope();
let gw, server, agentKey, adminKey, url, reviewerKey;
after(async () => {
    server?.close();
    await scope.cleanup();
});

before(async () => {
    server = http.createServer(mcpServer);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const yaml = `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${server.address().port}"]   # a private address: the operator allows it
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${server.address().port}/mcp
`;
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    gw = await startGatewayWithYaml(scope, yaml, { data });
    agentKey = gw.keys.agent_key;
    adminKey = gw.keys.admin_key; // another key of the same org
    // a reviewer is another person (four eyes), issued a key by the operator
    const w = { port: gw.port, op: JSON.parse(op.stdout.trim().split('\n').pop()).key };
    reviewerKey = (await person(w, adminKey, gw.keys.org_id,
                                { email: 'rev@a.example', role: 'reviewer' })).key;
    url = `http://127.0.0.1:${gw.port}/mcp/crafted`;
});

async function connect(key) {
    const client = new Client({ name: 'bulwark-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
    });
    await client.connect(transport);
    return { client, transport };
}

const rpc = (method, params, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
function post(body, headers = {}, key = agentKey) {
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    return request(gw.port, { method: 'POST', path: '/mcp/crafted', headers: h, body });
}
const toolCalls = (name) => seen.filter((s) => s.msg?.method === 'tools/call' &&
                                              s.msg.params?.name === name);

test('tools/list through the SDK is filtered: the denied tool is invisible', async () => {
    const { client } = await connect(agentKey);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['echo', 'read_file']);
    await client.close();
});

test('an allowed tools/call passes, with a decision and an outcome receipt', async () => {
    const { client } = await connect(agentKey);
    const before = toolCalls('echo').length;
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    assert.equal(r.content[0].text, 'called echo {"text":"hello"}');
    assert.equal(toolCalls('echo').length, before + 1);
    const dec = receipts(gw.dir).filter((x) => predicate(x).route === 'mcp.tools_call' &&
                                             predicate(x).kind === 'decision');
    const last = dec[dec.length - 1];
    assert.ok(last, 'a decision receipt');
    assert.equal(predicate(last).decision, 'allow');
    assert.equal(predicate(last).rule, 'other-calls');
    const outcome = await waitOutcome(gw.dir, predicate(last).log.index);
    assert.equal(predicate(outcome).status, 'ok');
    await client.close();
});

test('a denied tools/call is a JSON-RPC error with its reason and receipt; nothing reaches the server', async () => {
    const { client } = await connect(agentKey);
    await assert.rejects(client.callTool({ name: 'delete_all', arguments: {} }), (e) => {
        assert.equal(e.code, -32001);
        assert.equal(e.data.code, 'TOOL_DENIED');
        assert.match(e.data.receipt_id, RECEIPT_ID_RE);
        const d = receiptAt(gw.dir, Number(RECEIPT_ID_RE.exec(e.data.receipt_id)[1]));
        assert.equal(predicate(d).decision, 'deny');
        assert.equal(predicate(d).rule, 'no-delete');
        return true;
    });
    // argument constraints decide the call: read_file outside /data/ is refused
    await assert.rejects(client.callTool({ name: 'read_file', arguments: { path: '/etc/passwd' } }),
                         (e) => e.code === -32001 && e.data.code === 'TOOL_DENIED');
    const ok = await client.callTool({ name: 'read_file', arguments: { path: '/data/a' } });
    assert.match(ok.content[0].text, /read_file/);
    // a strip rule cannot remove the one tool of a call: refused, not forwarded
    await assert.rejects(client.callTool({ name: 'shell', arguments: {} }),
                         (e) => e.code === -32001 && e.data.code === 'TOOL_STRIPPED');
    assert.equal(toolCalls('shell').length, 0);
    assert.equal(toolCalls('delete_all').length, 0);
    assert.equal(toolCalls('read_file').length, 1, 'only the allowed read reached the server');
    await client.close();
});

test('a session is bound to its key: another key of the same org gets 404', async () => {
    const { client, transport } = await connect(agentKey);
    const sid = transport.sessionId;
    assert.match(sid, /^[0-9a-f]{32}$/, 'the gateway hands out its own id');
    assert.ok(!seen.some((s) => s.headers['mcp-session-id'] === sid), 'never sent upstream');
    const body = rpc('tools/list', {});
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    const other = await post(body, h, adminKey);
    assert.equal(other.status, 404);
    const mine = await post(body, h, agentKey);
    assert.equal(mine.status, 200);
    const unknown = await post(body, { ...h, 'mcp-session-id': 'f'.repeat(32) }, agentKey);
    assert.equal(unknown.status, 404);
    await client.close();
});

test('no key: 401 with WWW-Authenticate: Bearer', async () => {
    const r = await post(rpc('tools/list', {}), {}, null);
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
});

test('strict JSON-RPC: a batch, a missing jsonrpc, a bad id are refused; nothing goes upstream', async () => {
    const n = seen.length;
    const batch = await post(`[${rpc('tools/call', { name: 'echo' }, 1)},${rpc('ping', {}, 2)}]`);
    assert.equal(batch.status, 400);
    assert.equal(batch.json.error.code, -32600);
    assert.equal(batch.json.error.data.code, 'MCP_BATCH_REFUSED');
    const nover = await post(JSON.stringify({ id: 1, method: 'ping' }));
    assert.equal(nover.status, 400);
    assert.equal(nover.json.error.code, -32600);
    const badid = await post(JSON.stringify({ jsonrpc: '2.0', id: 1.5, method: 'ping' }));
    assert.equal(badid.status, 400);
    const dup = await post('{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}');
    assert.equal(dup.status, 400);
    assert.equal(dup.json.error.code, -32700);
    assert.equal(seen.length, n);
});

test('Mcp-Method / Mcp-Name disagreeing with the body: 400, -32020', async () => {
    const n = seen.length;
    const body = rpc('tools/call', { name: 'delete_all', arguments: {} });
    const r1 = await post(body, { 'mcp-method': 'tools/list' });
    assert.equal(r1.status, 400);
    assert.equal(r1.json.error.code, -32020);
    const r2 = await post(body, { 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
    assert.equal(r2.status, 400);
    assert.equal(r2.json.error.code, -32020);
    assert.equal(r2.json.error.data.code, 'MCP_HEADER_MISMATCH');
    assert.equal(seen.length, n);
});

test('an unsupported MCP-Protocol-Version: 400; an unlisted Origin: 403', async () => {
    const v = await post(rpc('ping', {}), { 'mcp-protocol-version': '2099-01-01' });
    assert.equal(v.status, 400);
    assert.equal(v.json.error.code, 'MCP_PROTOCOL_VERSION');
    const o = await post(rpc('ping', {}), { origin: 'https://evil.example' });
    assert.equal(o.status, 403);
});

test("the caller's Authorization never reaches the server", () => {
    assert.ok(seen.length > 0);
    for (const s of seen) {
        assert.equal(s.headers.authorization, undefined);
        assert.ok(!JSON.stringify(s.headers).includes('bwk_'));
    }
});

test('require_approval: a review item; once approved the identical call on the same session goes through once', async () => {
    const { client, transport } = await connect(agentKey);
    const call = { name: 'deploy', arguments: { env: 'prod' } };
    let reviewId;
    await assert.rejects(client.callTool(call), (e) => {
        assert.equal(e.code, -32001);
        assert.equal(e.data.code, 'APPROVAL_REQUIRED');
        assert.match(e.data.receipt_id, RECEIPT_ID_RE);
        assert.match(e.data.review_id, /^rev_[0-9a-f]{16}$/);
        reviewId = e.data.review_id;
        return true;
    });
    assert.equal(toolCalls('deploy').length, 0, 'nothing forwarded while pending');
    const h = { 'mcp-session-id': transport.sessionId, 'bulwark-approval': reviewId };
    const pending = await post(rpc('tools/call', call, 40), h);
    assert.equal(pending.json.error.data.code, 'APPROVAL_PENDING');
    // the reviewer sees exactly which tool would run with which arguments (docs/API.md "Reviews")
    const item = await api(gw.port, 'GET', `/api/v1/reviews/${reviewId}`, reviewerKey);
    assert.equal(item.json.detail.tool, 'deploy', item.text);
    assert.deepEqual(item.json.detail.arguments, { env: 'prod' });
    const v = await api(gw.port, 'POST', `/api/v1/reviews/${reviewId}/approve`, reviewerKey,
                        { comment: 'ok' });
    assert.equal(v.status, 200, v.text);
    // another argument, or another session, does not match the approval
    const other = await post(rpc('tools/call', { ...call, arguments: { env: 'dev' } }, 41), h);
    assert.equal(other.json.error.data.code, 'APPROVAL_MISMATCH');
    const { transport: t2, client: c2 } = await connect(agentKey);
    const elsewhere = await post(rpc('tools/call', call, 42),
                                 { ...h, 'mcp-session-id': t2.sessionId });
    assert.equal(elsewhere.json.error.data.code, 'APPROVAL_MISMATCH');
    await c2.close();
    assert.equal(toolCalls('deploy').length, 0);
    // the SDK's own re-send (a new JSON-RPC id) on the same session, with the header
    const again = new StreamableHTTPClientTransport(new URL(url), {
        sessionId: transport.sessionId,
        requestInit: { headers: { Authorization: `Bearer ${agentKey}`, 'bulwark-approval': reviewId } },
    });
    const c3 = new Client({ name: 'bulwark-test', version: '1.0.0' });
    await c3.connect(again);
    const r = await c3.callTool(call);
    assert.equal(r.content[0].text, 'called deploy {"env":"prod"}');
    assert.equal(toolCalls('deploy').length, 1);
    await assert.rejects(c3.callTool(call), (e) => e.data?.code === 'APPROVAL_USED');
    assert.equal(toolCalls('deploy').length, 1, 'an approval lets one call through');
    await client.close();
});

test('a hostile server: an answer over the cap or with duplicate keys is refused, with an outcome receipt', async () => {
    const big = await post(rpc('tools/call', { name: 'huge', arguments: {} }));
    assert.equal(big.status, 502);
    assert.equal(big.json.error.data.code, 'MCP_RESULT_TOO_LARGE');
    const d = receiptAt(gw.dir, Number(RECEIPT_ID_RE.exec(big.json.error.data.receipt_id)[1]));
    const out = await waitOutcome(gw.dir, predicate(d).log.index);
    assert.equal(predicate(out).status, 'result_too_large');
    const fails = await post(rpc('tools/call', { name: 'fails', arguments: {} }));
    assert.equal(fails.status, 200);
    assert.equal(fails.json.result.isError, true);
    const fd = receipts(gw.dir).filter((x) => predicate(x).kind === 'decision').at(-1);
    assert.equal(predicate(await waitOutcome(gw.dir, predicate(fd).log.index)).status, 'tool_error');
    const bad = await post(rpc('tools/call', { name: 'garbage', arguments: {} }));
    assert.equal(bad.status, 502);
    assert.equal(bad.json.error.data.code, 'MCP_UPSTREAM_INVALID');
});

test('tools/list answers are private; DELETE ends the session (then 404)', async () => {
    const { client, transport } = await connect(agentKey);
    const sid = transport.sessionId;
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    const list = await post(rpc('tools/list', {}), h);
    assert.equal(list.headers['cache-control'], 'private, no-store');
    assert.ok(!list.text.includes('delete_all'));
    const del = await request(gw.port, { method: 'DELETE', path: '/mcp/crafted',
                                         headers: { ...h, authorization: `Bearer ${adminKey}` } });
    assert.equal(del.status, 404, 'another key cannot end it');
    await transport.terminateSession();
    const after = await post(rpc('tools/list', {}), h);
    assert.equal(after.status, 404);
    assert.ok(seen.some((s) => s.method === 'DELETE'));
    await client.close();
});

test('concurrent sessions per key are capped (16): the 17th initialize is 429', async () => {
    const init = rpc('initialize', { protocolVersion: '2025-06-18', capabilities: {},
                                     clientInfo: { name: 'cap', version: '1' } });
    const rs = [];
    for (let i = 0; i < 17; i++) rs.push(await post(init, {}, adminKey));
    assert.deepEqual(rs.slice(0, 16).map((r) => r.status), Array(16).fill(200));
    assert.equal(rs[16].status, 429);
    assert.equal(rs[16].json.error.data.code, 'MCP_SESSIONS_EXHAUSTED');
    // the agent key's own sessions are unaffected
    assert.equal((await post(init, {}, agentKey)).status, 200);
});

test('the per-key cap holds under concurrent initializes (both workers): exactly 16 sessions', async () => {
    const k = await api(gw.port, 'POST', '/api/v1/keys', adminKey, { role: 'member', name: 'mcp-race' });
    assert.equal(k.status, 201, k.text);
    const init = rpc('initialize', { protocolVersion: '2025-11-25', capabilities: {},
                                     clientInfo: { name: 'race', version: '1' } });
    const rs = await Promise.all(Array.from({ length: 40 }, () => post(init, {}, k.json.key)));
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 16);
    assert.equal(rs.filter((r) => r.status === 429).length, 24);
    const ids = new Set(ok.map((r) => r.headers['mcp-session-id']));
    assert.equal(ids.size, 16, 'every session id is distinct');
    // each works for its key only, concurrently
    const uses = await Promise.all([...ids].map((sid) => post(rpc('ping', {}), { 'mcp-session-id': sid }, k.json.key)));
    assert.deepEqual(uses.map((r) => r.status), Array(16).fill(200));
});

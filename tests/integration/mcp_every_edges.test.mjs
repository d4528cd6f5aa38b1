// mcp_every_edges: the edges of the MCP decisions other than a plain tools/call, against a
// crafted (hostile where it matters) MCP server written here that records what reaches it:
// - tool names: the gateway keeps the policy engine's 1..64 of [A-Za-z0-9_.-] (MCP 2025-11-25
//   says names SHOULD be 1..128; docs/POLICY.md "MCP" says why 64): a longer or odd name is
//   hidden from tools/list and its call refused before anything is forwarded;
// - resources/list and prompts/list answers filtered; a second result smuggled into the
//   SSE answer under another id, and an answer that is not the listing refused (502);
// - resources/read with a URI that is not visible ASCII or is over 4096 bytes: a deny with a
//   receipt, not forwarded; resources/read and prompts/get sent as notifications: refused;
// - approval on a resource read (require_approval through the review queue, as a tool call).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
    Scope, initData, startGatewayWithYaml, request, receiptAt, predicate, RECEIPT_ID_RE, run,
} from './lib/harness.mjs';
import { api, person } from './lib/tenants.mjs';

const POLICY = `version: 1
rules:
  - {id: list, match: {route: mcp.tools_list}, effect: allow}
  - {id: no-keys, match: {route: [mcp.tools_call, mcp.prompts_get], content: 'BEGIN PRIVATE KEY'}, effect: deny, reason: CONTENT_BLOCKED}
  - {id: calls, match: {route: mcp.tools_call, tool: '*'}, effect: allow}
  - id: review-private
    match: {route: mcp.resources_read, resource: 'mock://private/*'}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - {id: no-dotdot, match: {route: mcp.resources_read, content: '\\.\\.'}, effect: deny, reason: RESOURCE_DENIED}
  - {id: public, match: {route: mcp.resources_read, resource: 'mock://public/*'}, effect: allow}
  - {id: hello, match: {route: mcp.prompts_get, prompt: hello}, effect: allow}
`;

const N64 = 'a'.repeat(64);
const N65 = 'b'.repeat(65);
const N128 = 'c'.repeat(128);
const TOOLS = [N64, N65, N128, 'bad name', 'caf\u00e9', 'echo'].map((name) => ({
    name, inputSchema: { type: 'object' },
}));
const RESOURCES = [
    { uri: 'mock://public/a', name: 'a' },
    { uri: 'mock://private/b', name: 'b' },
    { uri: 'mock://secret/c', name: 'c' },
    { uri: 42, name: 'not a string' },
    { uri: 'mock://public/\u00e9', name: 'not ascii' },
];
const PROMPTS = [{ name: 'hello' }, { name: 'steal' }, { name: 7 }];

const seen = [];
let mode = 'normal';
function mcpServer(req, res) {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
        let msg;
        try { msg = body ? JSON.parse(body) : undefined; } catch { msg = undefined; }
        seen.push(msg);
        if (req.method !== 'POST' || !msg) return res.writeHead(405).end();
        if (msg.id === undefined) return res.writeHead(202).end();
        const answer = (result) => ({ jsonrpc: '2.0', id: msg.id, result });
        const json = (o) => {
            res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' });
            res.end(JSON.stringify(o));
        };
        switch (msg.method) {
        case 'initialize':
            return json(answer({ protocolVersion: msg.params.protocolVersion,
                                 capabilities: { tools: {}, resources: {}, prompts: {} },
                                 serverInfo: { name: 'edges', version: '1.0.0' } }));
        case 'tools/list': return json(answer({ tools: TOOLS }));
        case 'resources/list':
            if (mode === 'not-a-list') return json(answer({ tools: [] }));
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            // a smuggled second result under another id, inside the SSE answer: the stream ends
            if (mode === 'smuggle')
                res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 'other', result: { resources: RESOURCES } })}\n\n`);
            return res.end(`event: message\ndata: ${JSON.stringify(answer({ resources: RESOURCES }))}\n\n`);
        case 'prompts/list': return json(answer({ prompts: PROMPTS }));
        case 'resources/read':
            return json(answer({ contents: [{ uri: msg.params.uri, text: 'content' }] }));
        case 'prompts/get':
            return json(answer({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] }));
        case 'tools/call':
            return json(answer({ content: [{ type: 'text', text: `called ${msg.params.name}` }] }));
        default:
            return json({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'unknown' } });
        }
    });
}

const scope = new Scope();
let gw, server, agentKey, adminKey, reviewerKey, url;
after(async () => {
    server?.close();
    await scope.cleanup();
});

before(async () => {
    server = http.createServer(mcpServer);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const port = server.address().port;
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    gw = await startGatewayWithYaml(scope, `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${port}"]
mcp:
  servers:
    - name: edges
      url: http://127.0.0.1:${port}/mcp
`, { data });
    agentKey = gw.keys.agent_key;
    adminKey = gw.keys.admin_key;
    const w = { port: gw.port, op: JSON.parse(op.stdout.trim().split('\n').pop()).key };
    reviewerKey = (await person(w, adminKey, gw.keys.org_id,
                                { email: 'rev@edges.example', role: 'reviewer' })).key;
    url = `http://127.0.0.1:${gw.port}/mcp/edges`;
});

async function connect(headers = {}, sessionId = undefined) {
    const client = new Client({ name: 'edges', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        sessionId, requestInit: { headers: { Authorization: `Bearer ${agentKey}`, ...headers } },
    });
    await client.connect(transport);
    return { client, transport };
}

function post(body, sessionId) {
    return request(gw.port, {
        method: 'POST', path: '/mcp/edges', body: JSON.stringify(body),
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json',
                   accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId },
    });
}

const reached = (method, key, v) => seen.filter((m) => m?.method === method && m.params?.[key] === v);

test('tool names: 64 bytes listed and callable; 65, 128 and odd names hidden and never called', async () => {
    const { client, transport } = await connect();
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [N64, 'echo']);
    assert.equal((await client.callTool({ name: N64, arguments: {} })).content[0].text, `called ${N64}`);
    for (const name of [N65, N128]) {
        const r = await post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name, arguments: {} } },
                             transport.sessionId);
        assert.equal(r.status, 400);
        assert.equal(r.json.error.code, -32600);
        assert.equal(r.json.error.data.code, 'MCP_INVALID_MESSAGE');
        assert.match(r.json.error.message, /1\.\.64/);
        assert.equal(reached('tools/call', 'name', name).length, 0);
    }
    await client.close();
});

test('content rules read every string and key of tools/call and prompts/get arguments', async () => {
    const { client } = await connect();
    const key = '-----BEGIN PRIVATE KEY-----';
    for (const args of [{ text: key }, { a: [{ b: { c: ['x', key] } }] }, { [key]: 1 }]) {
        await assert.rejects(client.callTool({ name: 'echo', arguments: args }),
                             (e) => e.code === -32001 && e.data.code === 'CONTENT_BLOCKED');
    }
    assert.equal((await client.callTool({ name: 'echo', arguments: { a: [{ b: 'fine' }] } })).content[0].text,
                 'called echo');
    await assert.rejects(client.getPrompt({ name: 'hello', arguments: { x: key } }),
                         (e) => e.code === -32001 && e.data.code === 'CONTENT_BLOCKED');
    assert.equal(seen.filter((m) => JSON.stringify(m ?? '').includes('PRIVATE KEY')).length, 0);
    await client.close();
});

test('resources/list and prompts/list are filtered; a smuggled result ends the stream; a non-listing answer is refused', async () => {
    const { client, transport } = await connect();
    const { resources } = await client.listResources();
    // private is listed: its reads need approval, they are not denied
    assert.deepEqual(resources.map((r) => r.uri), ['mock://public/a', 'mock://private/b']);
    const raw = await post({ jsonrpc: '2.0', id: 8, method: 'resources/list', params: {} }, transport.sessionId);
    assert.equal(raw.status, 200);
    let events = raw.text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    assert.equal(events.length, 1);
    assert.deepEqual(events[0].result.resources.map((r) => r.uri), ['mock://public/a', 'mock://private/b']);
    // a response under another id on a request's stream is not MCP (MCP.md "Streams"): the
    // gateway ends the stream with an error for the request, and relays nothing of it
    mode = 'smuggle';
    try {
        const sm = await post({ jsonrpc: '2.0', id: 10, method: 'resources/list', params: {} }, transport.sessionId);
        events = sm.text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
        assert.ok(events.every((e) => e.id !== 'other'), sm.text);
        assert.equal(events.at(-1).id, 10);
        assert.equal(events.at(-1).error.data.code, 'MCP_UPSTREAM_INVALID');
    } finally {
        mode = 'normal';
    }
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name), ['hello']);
    mode = 'not-a-list';
    try {
        const bad = await post({ jsonrpc: '2.0', id: 9, method: 'resources/list', params: {} }, transport.sessionId);
        assert.equal(bad.status, 502);
        assert.equal(bad.json.error.data.code, 'MCP_UPSTREAM_INVALID');
    } finally {
        mode = 'normal';
    }
    await client.close();
});

test('resources/read: content rules see the URI; bad URIs and notifications are refused, never forwarded', async () => {
    const { client, transport } = await connect();
    assert.equal((await client.readResource({ uri: 'mock://public/a' })).contents[0].text, 'content');
    const dot = 'mock://public/../private/b';
    await assert.rejects(client.readResource({ uri: dot }),
                         (e) => e.code === -32001 && e.data.code === 'RESOURCE_DENIED');
    for (const uri of ['mock://public/a b', 'mock://public/\u00e9', `mock://public/${'x'.repeat(4096)}`, '']) {
        const r = await post({ jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri } }, transport.sessionId);
        assert.equal(r.json.error.data.code, 'MCP_INVALID_MESSAGE', uri.slice(0, 40));
        const d = predicate(receiptAt(gw.dir, Number(RECEIPT_ID_RE.exec(r.json.error.data.receipt_id)[1])));
        assert.equal(d.route, 'mcp.resources_read');
        assert.equal(d.decision, 'deny');
        assert.equal(reached('resources/read', 'uri', uri).length, 0);
    }
    for (const [method, params] of [['resources/read', { uri: 'mock://public/a' }], ['prompts/get', { name: 'hello' }],
                                    ['resources/list', {}]]) {
        const before = seen.length;
        const r = await post({ jsonrpc: '2.0', method, params }, transport.sessionId);
        assert.equal(r.status, 400, method);
        assert.equal(r.json.error.data.code, 'MCP_INVALID_MESSAGE');
        assert.equal(seen.length, before, `${method} as a notification reached the server`);
    }
    assert.equal(reached('resources/read', 'uri', dot).length, 0);
    assert.equal((await client.getPrompt({ name: 'hello' })).messages[0].content.text, 'hi');
    await assert.rejects(client.getPrompt({ name: 'steal' }),
                         (e) => e.code === -32001 && e.data.code === 'NO_MATCHING_RULE');
    assert.equal(reached('prompts/get', 'name', 'steal').length, 0);
    await client.close();
});

test('resources/read with require_approval: review, approve, the identical read on the same session once', async () => {
    const { client, transport } = await connect();
    const read = { uri: 'mock://private/b' };
    let reviewId;
    await assert.rejects(client.readResource(read), (e) => {
        assert.equal(e.data.code, 'APPROVAL_REQUIRED');
        reviewId = e.data.review_id;
        return true;
    });
    assert.equal(reached('resources/read', 'uri', read.uri).length, 0);
    const v = await api(gw.port, 'POST', `/api/v1/reviews/${reviewId}/approve`, reviewerKey, { comment: 'ok' });
    assert.equal(v.status, 200, v.text);
    const item = await api(gw.port, 'GET', `/api/v1/reviews/${reviewId}`, reviewerKey);
    assert.equal(item.json.route, 'mcp.resources_read');
    // an approval of a read does not let a tool call through
    const { client: c2 } = await connect({ 'bulwark-approval': reviewId }, transport.sessionId);
    await assert.rejects(c2.readResource({ uri: 'mock://private/other' }),
                         (e) => e.data.code === 'APPROVAL_MISMATCH');
    assert.equal((await c2.readResource(read)).contents[0].uri, read.uri);
    await assert.rejects(c2.readResource(read), (e) => e.data.code === 'APPROVAL_USED');
    assert.equal(reached('resources/read', 'uri', read.uri).length, 1);
    await client.close();
});

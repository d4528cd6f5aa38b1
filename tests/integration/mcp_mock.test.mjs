// Scenario: `bulwark mock-mcp` on its own, driven by the official MCP TypeScript SDK (and raw
// fetch for what the SDK never sends): the server the MCP gateway tests stand on. Session
// handling, the five tools, progress over SSE, sampling to the client, the rug-pull control,
// resources, prompts, and strict JSON-RPC errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Scope } from './lib/harness.mjs';
import { startMcpMock, connectMcp } from './lib/mcp.mjs';

const scope = new Scope();
const clients = [];
after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await scope.cleanup();
});

let mock;
before(async () => {
    mock = await startMcpMock(scope);
});

async function connect(o) {
    const c = await connectMcp(mock.url, o);
    clients.push(c);
    return c;
}

const ACCEPT = 'application/json, text/event-stream';

// One raw POST /mcp: {status, headers, json, text}.
async function post(body, { session, headers = {} } = {}) {
    const h = { 'Content-Type': 'application/json', Accept: ACCEPT, ...headers };
    if (session) h['Mcp-Session-Id'] = session;
    const r = await fetch(mock.url, { method: 'POST', headers: h,
                                      body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, json, text };
}

const initBody = (version = '2025-11-25', id = 1) => ({
    jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

async function rawSession(version) {
    const r = await post(initBody(version));
    assert.equal(r.status, 200, r.text);
    const sid = r.headers.get('mcp-session-id');
    assert.match(sid, /^[0-9a-f]{32}$/);
    return { sid, version: r.json.result.protocolVersion };
}

test('initialize: the SDK negotiates 2025-11-25; older SDK versions are accepted, unknown ones get the newest', async () => {
    const { client, transport } = await connect();
    assert.equal(transport.protocolVersion, '2025-11-25');
    assert.equal(client.getServerVersion().name, 'bulwark-mock-mcp');
    assert.ok(client.getServerCapabilities().tools);
    assert.match(transport.sessionId, /^[0-9a-f]{32}$/);
    for (const v of ['2025-06-18', '2025-03-26'])
        assert.equal((await rawSession(v)).version, v);
    assert.equal((await rawSession('1999-01-01')).version, '2025-11-25');
    const bad = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 5 } });
    assert.equal(bad.json.error.code, -32602);
});

test('tools/list: five tools with schemas and annotations', async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    const by = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.deepEqual(Object.keys(by).sort(),
                     ['ask_sampling', 'delete_everything', 'echo', 'mutable', 'slow']);
    for (const t of tools) {
        assert.equal(t.inputSchema.type, 'object', t.name);
        assert.equal(typeof t.description, 'string');
        assert.equal(typeof t.annotations.destructiveHint, 'boolean', t.name);
    }
    assert.equal(by.delete_everything.annotations.destructiveHint, true);
    assert.equal(by.delete_everything.annotations.readOnlyHint, false);
    assert.equal(by.echo.annotations.destructiveHint, false);
    assert.equal(by.echo.annotations.readOnlyHint, true);
    assert.deepEqual(by.echo.inputSchema.required, ['text']);
    assert.equal(by.echo.outputSchema.type, 'object');
});

test('tools/call echo answers its text (content and structuredContent); bad arguments are -32602', async () => {
    const { client } = await connect();
    const before = (await mock.stats()).calls.echo;
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hello ☃' } });
    assert.equal(r.isError, false);
    assert.deepEqual(r.content, [{ type: 'text', text: 'hello ☃' }]);
    assert.deepEqual(r.structuredContent, { text: 'hello ☃' });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 1 } }),
                         (e) => e.code === -32602);
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'a', extra: 1 } }),
                         (e) => e.code === -32602);
    await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), (e) => e.code === -32602);
    assert.equal((await mock.stats()).calls.echo, before + 3);
    const d = await client.callTool({ name: 'delete_everything', arguments: { confirm: true } });
    assert.equal(d.isError, false);
});

test('slow streams notifications/progress over SSE; the SDK sees them through onprogress', async () => {
    const { client } = await connect();
    const progress = [];
    const r = await client.callTool({ name: 'slow', arguments: { steps: 4 } }, undefined,
                                    { onprogress: (p) => progress.push(p) });
    assert.deepEqual(r.content, [{ type: 'text', text: 'slow done after 4 steps' }]);
    assert.deepEqual(progress.map((p) => [p.progress, p.total]), [[1, 4], [2, 4], [3, 4], [4, 4]]);
    assert.equal(progress[0].message, 'step 1 of 4');
    // Without a progress token, or without SSE in Accept, it still answers (no notifications).
    const plain = await client.callTool({ name: 'slow', arguments: { steps: 1 } });
    assert.equal(plain.content[0].text, 'slow done after 1 steps');
    const { sid } = await rawSession('2025-11-25');
    const j = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call',
                           params: { name: 'slow', arguments: { steps: 2 }, _meta: { progressToken: 'p' } } },
                         { session: sid, headers: { Accept: 'application/json', 'MCP-Protocol-Version': '2025-11-25' } });
    assert.equal(j.status, 200);
    assert.match(j.headers.get('content-type'), /^application\/json/);
    assert.equal(j.json.result.content[0].text, 'slow done after 2 steps');
    await assert.rejects(client.callTool({ name: 'slow', arguments: { steps: 51 } }),
                         (e) => e.code === -32602);
});

test('ask_sampling sends sampling/createMessage to the client and answers with its text', async () => {
    const { client } = await connect({ capabilities: { sampling: {} } });
    const seen = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        seen.push(req.params);
        return { role: 'assistant', model: 'test-model', stopReason: 'endTurn',
                 content: { type: 'text', text: `sampled: ${req.params.messages[0].content.text}` } };
    });
    const r = await client.callTool({ name: 'ask_sampling', arguments: { prompt: 'capital of France?' } });
    assert.equal(r.isError, false);
    assert.deepEqual(r.content, [{ type: 'text', text: 'sampled: capital of France?' }]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].messages[0].role, 'user');
    assert.equal(seen[0].maxTokens, 100);

    // A client that did not declare sampling is not asked: the tool reports an error result.
    const { client: plain } = await connect();
    const n = await plain.callTool({ name: 'ask_sampling', arguments: { prompt: 'x' } });
    assert.equal(n.isError, true);
    assert.match(n.content[0].text, /does not offer sampling/);

    // A client whose handler fails: the tool answers isError, the stream ends.
    const { client: refusing } = await connect({ capabilities: { sampling: {} } });
    refusing.setRequestHandler(CreateMessageRequestSchema, async () => { throw new Error('no'); });
    const f = await refusing.callTool({ name: 'ask_sampling', arguments: { prompt: 'x' } });
    assert.equal(f.isError, true);
    assert.match(f.content[0].text, /refused sampling/);
    assert.equal((await mock.stats()).streams, 0);
});

test('mutable: POST /control/mutate changes its definition (rug pull); reset restores it', async () => {
    const { client } = await connect();
    const def = async () => (await client.listTools()).tools.find((t) => t.name === 'mutable');
    const first = await def();
    assert.match(first.description, /Harmless/);
    assert.equal((await client.callTool({ name: 'mutable', arguments: {} })).content[0].text, 'revision 0');
    assert.deepEqual(await mock.mutate(), { revision: 1 });
    const second = await def();
    assert.notEqual(second.description, first.description);
    assert.match(second.description, /id_rsa/);
    assert.ok(second.inputSchema.properties.note);
    assert.equal((await client.callTool({ name: 'mutable', arguments: { note: 'x' } })).content[0].text,
                 'revision 1');
    await mock.mutate();
    assert.notEqual((await def()).description, second.description);
    await mock.reset();
    assert.deepEqual(await def(), first);
});

test('resources and prompts: one of each', async () => {
    const { client } = await connect();
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri), ['mock://readme']);
    const read = await client.readResource({ uri: 'mock://readme' });
    assert.match(read.contents[0].text, /mock-mcp/);
    await assert.rejects(client.readResource({ uri: 'file:///etc/passwd' }), (e) => e.code === -32002);
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name), ['greet']);
    const got = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    assert.equal(got.messages[0].content.text, 'Say hello to Ada.');
    await assert.rejects(client.getPrompt({ name: 'greet', arguments: {} }), (e) => e.code === -32602);
});

test('sessions: required after initialize (400 without, 404 unknown), bound version, DELETE ends one', async () => {
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    const none = await post(ping);
    assert.equal(none.status, 400);
    assert.equal(none.json.error.code, -32600);
    assert.equal(none.json.id, 2);
    const unknown = await post(ping, { session: 'f'.repeat(32) });
    assert.equal(unknown.status, 404);
    const { sid } = await rawSession('2025-06-18');
    assert.equal((await post(ping, { session: sid })).status, 200); // no header: 2025-03-26 assumed
    assert.equal((await post(ping, { session: sid, headers: { 'MCP-Protocol-Version': '2025-06-18' } })).status, 200);
    const wrongVersion = await post(ping, { session: sid, headers: { 'MCP-Protocol-Version': '2025-11-25' } });
    assert.equal(wrongVersion.status, 400);
    const notif = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { session: sid });
    assert.equal(notif.status, 202);
    assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 400);

    const del = await fetch(mock.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    assert.equal(del.status, 200);
    assert.equal((await post(ping, { session: sid })).status, 404);
    assert.equal((await fetch(mock.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } })).status, 404);
    assert.equal((await fetch(mock.url, { method: 'DELETE' })).status, 400);

    // The SDK's own terminateSession (DELETE) ends its session too.
    const { transport } = await connect();
    const old = transport.sessionId;
    await transport.terminateSession();
    assert.equal((await post(ping, { session: old })).status, 404);
});

test('GET /mcp is 405 (no server-initiated stream); other methods and URLs are refused', async () => {
    const g = await fetch(mock.url, { headers: { Accept: 'text/event-stream' } });
    assert.equal(g.status, 405);
    assert.equal(g.headers.get('allow'), 'POST, DELETE');
    assert.equal((await fetch(mock.url, { method: 'PUT' })).status, 405);
    assert.equal((await fetch(`${mock.base}/other`)).status, 404);
});

test('malformed JSON-RPC: parse error -32700, batches refused unseen, bad envelopes -32600', async () => {
    const { sid } = await rawSession('2025-11-25');
    const o = { session: sid };
    for (const body of ['{"jsonrpc":"2.0","id":1,', 'not json', '', '{"a":1,"a":2}', '"str"', '\xff']) {
        const r = await post(body, o);
        assert.equal(r.status, 400, body);
        assert.equal(r.json.error.code, -32700, body);
        assert.equal(r.json.id, null);
    }
    const before = (await mock.stats()).calls;
    const batch = await post([{ jsonrpc: '2.0', id: 1, method: 'tools/call',
                                params: { name: 'delete_everything', arguments: {} } },
                              { jsonrpc: '2.0', id: 2, method: 'ping' }], o);
    assert.equal(batch.status, 400);
    assert.equal(batch.json.error.code, -32600);
    assert.match(batch.json.error.message, /batch/);
    assert.deepEqual((await mock.stats()).calls, before, 'no element of a batch was executed');
    const bad = [
        { jsonrpc: '1.0', id: 1, method: 'ping' },
        { id: 1, method: 'ping' },
        { jsonrpc: '2.0', id: null, method: 'ping' },
        { jsonrpc: '2.0', id: 1.5, method: 'ping' },
        { jsonrpc: '2.0', id: true, method: 'ping' },
        { jsonrpc: '2.0', id: 1, method: 7 },
        { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] },
        { jsonrpc: '2.0', id: 1 },
        { jsonrpc: '2.0', id: 1, result: {}, error: {} },
    ];
    for (const b of bad) {
        const r = await post(b, o);
        assert.equal(r.status, 400, JSON.stringify(b));
        assert.equal(r.json.error.code, -32600, JSON.stringify(b));
    }
    const unknown = await post({ jsonrpc: '2.0', id: 'x', method: 'tools/explode' }, o);
    assert.equal(unknown.status, 200);
    assert.deepEqual([unknown.json.id, unknown.json.error.code], ['x', -32601]);
    const deep = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' + '['.repeat(100) + ']'.repeat(100) + '}}';
    assert.equal((await post(deep, o)).json.error.code, -32700);
    const ct = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { ...o, headers: { 'Content-Type': 'text/plain' } });
    assert.equal(ct.status, 415);
    const ctCase = await post({ jsonrpc: '2.0', id: 1, method: 'ping' },
                              { ...o, headers: { 'Content-Type': 'Application/JSON; charset=utf-8' } });
    assert.equal(ctCase.status, 200, 'media types are case-insensitive (RFC 9110 8.3.1)');
    const acc = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { ...o, headers: { Accept: 'text/html' } });
    assert.equal(acc.status, 406);
    const huge = await post({ jsonrpc: '2.0', id: 1, method: 'tools/call',
                              params: { name: 'echo', arguments: { text: 'x'.repeat(2 << 20) } } }, o);
    assert.equal(huge.status, 413);
    // Still serving.
    assert.equal((await post({ jsonrpc: '2.0', id: 9, method: 'ping' }, o)).status, 200);
});

// An SSE reader over a fetch Response: until(pred) reads events (the parsed data of each) until
// pred(event) is true and returns the events read so far.
function sse(res) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const events = [];
    return {
        async until(pred) {
            for (;;) {
                let i;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    const block = buf.slice(0, i);
                    buf = buf.slice(i + 2);
                    const data = block.split('\n').filter((l) => l.startsWith('data: '))
                        .map((l) => l.slice(6)).join('\n');
                    if (!data) continue;
                    events.push(JSON.parse(data));
                    if (pred(events[events.length - 1])) return events;
                }
                const { value, done } = await reader.read();
                if (done) throw new Error(`stream ended; events: ${JSON.stringify(events)}`);
                buf += dec.decode(value, { stream: true });
            }
        },
    };
}

const samplingCall = (id, prompt) => ({ jsonrpc: '2.0', id, method: 'tools/call',
                                         params: { name: 'ask_sampling', arguments: { prompt } } });

async function samplingSession() {
    const r = await post({ jsonrpc: '2.0', id: 1, method: 'initialize',
                           params: { protocolVersion: '2025-11-25', capabilities: { sampling: {} },
                                     clientInfo: { name: 'raw', version: '1' } } });
    return r.headers.get('mcp-session-id');
}

test('a sampling response only counts on the session the request went to', async () => {
    const a = await samplingSession();
    const b = await samplingSession();
    const res = await fetch(mock.url, { method: 'POST', body: JSON.stringify(samplingCall(5, 'q')),
                                        headers: { 'Content-Type': 'application/json', Accept: ACCEPT,
                                                   'Mcp-Session-Id': a } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const stream = sse(res);
    const ask = (await stream.until((e) => e.method === 'sampling/createMessage')).at(-1);
    assert.match(ask.id, /^mock-sampling-\d+$/);
    const answer = (text) => ({ jsonrpc: '2.0', id: ask.id,
                                result: { role: 'assistant', model: 'm', content: { type: 'text', text } } });
    // Session b answers a's request: accepted as a message, ignored as an answer.
    assert.equal((await post(answer('from b'), { session: b })).status, 202);
    assert.equal((await mock.stats()).streams, 1, 'the stream still waits for session a');
    assert.equal((await post(answer('from a'), { session: a })).status, 202);
    const rest = await stream.until((e) => e.id === 5);
    assert.deepEqual(rest.at(-1).result.content, [{ type: 'text', text: 'from a' }]);
    // A second answer to the same request finds nothing to finish.
    assert.equal((await post(answer('again'), { session: a })).status, 202);
    assert.equal((await mock.stats()).streams, 0);
});

test('a client that goes away mid-stream frees the stream; the mock keeps serving', async () => {
    const sid = await samplingSession();
    const ctl = new AbortController();
    const res = await fetch(mock.url, {
        method: 'POST', signal: ctl.signal,
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call',
                               params: { name: 'slow', arguments: { steps: 50 }, _meta: { progressToken: 1 } } }),
        headers: { 'Content-Type': 'application/json', Accept: ACCEPT, 'Mcp-Session-Id': sid },
    });
    await sse(res).until((e) => e.method === 'notifications/progress');
    // And one waiting for a sampling answer that never comes.
    const ctl2 = new AbortController();
    const res2 = await fetch(mock.url, { method: 'POST', signal: ctl2.signal,
                                         body: JSON.stringify(samplingCall(4, 'q')),
                                         headers: { 'Content-Type': 'application/json', Accept: ACCEPT,
                                                    'Mcp-Session-Id': sid } });
    await sse(res2).until((e) => e.method === 'sampling/createMessage');
    assert.equal((await mock.stats()).streams, 2);
    ctl.abort();
    ctl2.abort();
    const deadline = Date.now() + 5000;
    while ((await mock.stats()).streams !== 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    assert.equal((await mock.stats()).streams, 0);
    assert.equal((await post({ jsonrpc: '2.0', id: 9, method: 'ping' }, { session: sid })).status, 200);
});

test('SIGTERM with streams open: the mock exits cleanly', async () => {
    const own = await startMcpMock(scope);
    const init = await fetch(own.url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: ACCEPT },
                                        body: JSON.stringify(initBody()) });
    const sid = init.headers.get('mcp-session-id');
    const res = await fetch(own.url, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call',
                               params: { name: 'slow', arguments: { steps: 50 }, _meta: { progressToken: 1 } } }),
        headers: { 'Content-Type': 'application/json', Accept: ACCEPT, 'Mcp-Session-Id': sid },
    });
    await sse(res).until((e) => e.method === 'notifications/progress');
    own.proc.kill('SIGTERM');
    const { code } = await own.proc.waitExit(5000);
    assert.equal(code, 0, own.proc.stderr);
});

test('concurrent clients: parallel slow calls each get their own progress and answer', async () => {
    const conns = await Promise.all(Array.from({ length: 12 }, () => connect()));
    const results = await Promise.all(conns.map(async ({ client }, i) => {
        const progress = [];
        const steps = 1 + (i % 4);
        const r = await client.callTool({ name: 'slow', arguments: { steps } }, undefined,
                                        { onprogress: (p) => progress.push(p.progress) });
        const e = await client.callTool({ name: 'echo', arguments: { text: `client ${i}` } });
        return { steps, progress, text: r.content[0].text, echo: e.content[0].text, i };
    }));
    for (const r of results) {
        assert.deepEqual(r.progress, Array.from({ length: r.steps }, (_, k) => k + 1));
        assert.equal(r.text, `slow done after ${r.steps} steps`);
        assert.equal(r.echo, `client ${r.i}`);
    }
    assert.equal((await mock.stats()).streams, 0);
});

test('the session table is bounded: initialize past it is 503; ending one frees a slot', async () => {
    const made = [];
    let full = null;
    for (let i = 0; i < 1100 && !full; i++) {
        const r = await post(initBody());
        if (r.status === 200) made.push(r.headers.get('mcp-session-id'));
        else full = r;
    }
    try {
        assert.ok(full, 'no refusal after 1100 sessions');
        assert.equal(full.status, 503);
        assert.equal(full.json.error.code, -32603);
        assert.equal((await mock.stats()).sessions, 1024);
        const del = await fetch(mock.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': made.pop() } });
        assert.equal(del.status, 200);
        const again = await post(initBody());
        assert.equal(again.status, 200);
        made.push(again.headers.get('mcp-session-id'));
    } finally {
        for (const sid of made)
            await fetch(mock.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
});

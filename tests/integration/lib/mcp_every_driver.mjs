// The client side of mcp_everything_gateway.test.mjs, run INSIDE the test's network namespace
// (the gateway and server-everything are only reachable there):
//   node mcp_every_driver.mjs
// env: GW_PORT (the gateway on 127.0.0.1), SERVER (the {server} name), AGENT_KEY, ADMIN_KEY
// (another key of the same org, role admin), OP_KEY (an operator key: issues a reviewer's key),
// ORG_ID. Drives the official SDK through the gateway and prints ONE line of JSON: every
// observation under its own name, an SDK error as {error: {code, message, data}}. Assertions
// are the test's; this only records (a failed step does not stop the next).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from './harness.mjs';
import { api, person } from './tenants.mjs';

const port = Number(process.env.GW_PORT);
const url = new URL(`http://127.0.0.1:${port}/mcp/${process.env.SERVER}`);
const out = {};

async function connect(key, { sessionId, headers = {} } = {}) {
    const client = new Client({ name: 'bulwark-every', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(url, {
        sessionId,
        requestInit: { headers: { Authorization: `Bearer ${key}`, ...headers } },
    });
    await client.connect(transport);
    return { client, transport };
}

// Runs fn, records its value or its error under name.
async function record(name, fn) {
    try {
        out[name] = await fn();
    } catch (e) {
        out[name] = { error: { code: e.code, message: String(e.message), data: e.data } };
    }
}

const agent = await connect(process.env.AGENT_KEY);
const c = agent.client;
await record('tools', async () => (await c.listTools()).tools.map((t) => t.name));
await record('echo', () => c.callTool({ name: 'echo', arguments: { message: 'hi through bulwark' } }));
await record('sum', () => c.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }));
await record('env', () => c.callTool({ name: 'get-env', arguments: {} }));
await record('resources', async () => (await c.listResources()).resources.map((r) => r.uri));
await record('prompts', async () => (await c.listPrompts()).prompts.map((p) => p.name));
await record('readDoc', () => c.readResource({ uri: 'demo://resource/static/document/architecture.md' }));
await record('readDenied', () => c.readResource({ uri: 'demo://resource/static/document/instructions.md' }));
await record('readUnlisted', () => c.readResource({ uri: 'demo://resource/dynamic/text/1' }));
await record('prompt', () => c.getPrompt({ name: 'args-prompt', arguments: { city: 'Oslo' } }));
await record('promptDenied', () => c.getPrompt({ name: 'resource-prompt',
                                                 arguments: { resourceType: 'Text', resourceId: '1' } }));
await record('progress', async () => {
    const seen = [];
    const r = await c.callTool({ name: 'trigger-long-running-operation',
                                 arguments: { duration: 0.3, steps: 3 } }, undefined,
                               { onprogress: (p) => seen.push(p.progress) });
    return { result: r, progress: seen };
});

// require_approval: the review item, approved by another person, then the identical call on the
// same session with bulwark-approval goes through once.
await record('approval', async () => {
    const call = { name: 'get-tiny-image', arguments: {} };
    const first = await c.callTool(call).then(() => null, (e) => e);
    const reviewId = first?.data?.review_id;
    const w = { port, op: process.env.OP_KEY };
    const rev = await person(w, process.env.ADMIN_KEY, process.env.ORG_ID,
                             { email: 'rev@every.example', role: 'reviewer' });
    const approve = await api(port, 'POST', `/api/v1/reviews/${reviewId}/approve`, rev.key,
                              { comment: 'ok' });
    const again = await connect(process.env.AGENT_KEY, { sessionId: agent.transport.sessionId,
                                                         headers: { 'bulwark-approval': reviewId } });
    const granted = await again.client.callTool(call).then((r) => r, (e) => ({ error: { code: e.code, data: e.data } }));
    const twice = await again.client.callTool(call).then((r) => r, (e) => ({ error: { code: e.code, data: e.data } }));
    return { first: { code: first?.code, data: first?.data }, approve: approve.status,
             granted, twice };
});

// The session is bound to its key: another key of the same org presenting it gets 404.
await record('stolenSession', async () => {
    const r = await request(port, {
        method: 'POST', path: url.pathname,
        headers: { authorization: `Bearer ${process.env.ADMIN_KEY}`, 'content-type': 'application/json',
                   accept: 'application/json, text/event-stream',
                   'mcp-session-id': agent.transport.sessionId },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
    });
    return { status: r.status, code: r.json?.error?.code };
});

// A refused tools/list (the policy denies listing to admin keys): -32001 with a receipt.
await record('adminList', async () => {
    const admin = await connect(process.env.ADMIN_KEY);
    try {
        return await admin.client.listTools();
    } finally {
        await admin.client.close();
    }
});
// OAuth callers: the challenge, the metadata it names (served by the gateway for its public
// URL), a token for this server through the SDK, and refused tokens.
await record('oauth', async () => {
    const raw = (auth) => request(port, {
        method: 'POST', path: url.pathname,
        headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), 'content-type': 'application/json',
                   accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
                               params: { protocolVersion: '2025-06-18', capabilities: {},
                                         clientInfo: { name: 'x', version: '1' } } }),
    });
    const none = await raw(null);
    const meta = /resource_metadata="([^"]+)"/.exec(none.headers['www-authenticate'] || '')?.[1] || '';
    const prm = await request(port, { method: 'GET', path: new URL(meta).pathname });
    const t = await connect(process.env.TOKEN_GOOD);
    const tools = (await t.client.listTools()).tools.map((x) => x.name);
    const echo = await t.client.callTool({ name: 'echo', arguments: { message: 'hi by token' } });
    const env = await t.client.callTool({ name: 'get-env', arguments: {} })
        .then((r) => r, (e) => ({ error: { code: e.code, data: e.data } }));
    await t.client.close();
    const aud = await raw(process.env.TOKEN_AUD);
    const exp = await raw(process.env.TOKEN_EXPIRED);
    return { none: { status: none.status, challenge: none.headers['www-authenticate'] },
             prm: prm.json, tools, echo, env,
             audience: { status: aud.status, code: aud.json?.error?.code },
             expired: { status: exp.status, code: exp.json?.error?.code } };
});
await c.close();
console.log(JSON.stringify(out));

// A scripted official-SDK MCP client, for tests that run inside a network namespace:
//   node mcp_client.mjs URL PLAN_JSON [HEADERS_JSON [OPTIONS_JSON]]
// PLAN_JSON is an array of steps: {"op":"listTools"}, {"op":"callTool","name":..,"arguments":{..},
// "progress":true?} (progress: the notifications/progress received go in the result's
// "_progress"), {"op":"listResources"}, {"op":"listPrompts"}, {"op":"server"} (negotiated version
// and server info). HEADERS_JSON goes on every HTTP request (e.g. Authorization). OPTIONS_JSON:
// {"sampling": "TEXT"} declares the sampling capability and answers every sampling/createMessage
// with TEXT (the requests' params are listed in the output's "sampling").
// Prints one line of JSON: {"ok":true,"results":[...],"sampling":[...]} where a failed step's result
// is {"error":{"message","code"}}, or {"ok":false,"error":...} when connecting fails. Exit 0
// either way.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const [url, planText, headersText, optionsText] = process.argv.slice(2);
const plan = JSON.parse(planText || '[]');
const headers = JSON.parse(headersText || '{}');
const options = JSON.parse(optionsText || '{}');
const sampling = [];

async function callTool(client, s) {
    const progress = [];
    const opts = s.progress ? { onprogress: (p) => progress.push(p) } : undefined;
    const r = await client.callTool({ name: s.name, arguments: s.arguments || {} }, undefined, opts);
    return s.progress ? { ...r, _progress: progress } : r;
}

async function step(client, transport, s) {
    switch (s.op) {
    case 'listTools': return client.listTools();
    case 'callTool': return callTool(client, s);
    case 'listResources': return client.listResources();
    case 'listPrompts': return client.listPrompts();
    case 'server': return { protocolVersion: transport.protocolVersion, info: client.getServerVersion() };
    default: throw new Error(`unknown op ${s.op}`);
    }
}

const capabilities = typeof options.sampling === 'string' ? { sampling: {} } : {};
const client = new Client({ name: 'bulwark-ns-client', version: '1.0.0' }, { capabilities });
if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        sampling.push(req.params);
        return { role: 'assistant', model: 'ns-test-model', stopReason: 'endTurn',
                 content: { type: 'text', text: options.sampling } };
    });
}
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
try {
    await client.connect(transport);
} catch (e) {
    console.log(JSON.stringify({ ok: false, error: { message: String(e.message), code: e.code } }));
    process.exit(0);
}
const results = [];
for (const s of plan) {
    try {
        results.push(await step(client, transport, s));
    } catch (e) {
        results.push({ error: { message: String(e.message), code: e.code } });
    }
}
await transport.terminateSession().catch(() => {});
await client.close();
console.log(JSON.stringify({ ok: true, results, sampling }));

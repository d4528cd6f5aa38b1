// A scripted official-SDK MCP client, for tests that run inside a network namespace:
//   node mcp_client.mjs URL PLAN_JSON [HEADERS_JSON]
// PLAN_JSON is an array of steps: {"op":"listTools"}, {"op":"callTool","name":..,"arguments":{..}},
// {"op":"listResources"}, {"op":"listPrompts"}, {"op":"server"} (negotiated version and server
// info). Prints one line of JSON: {"ok":true,"results":[...]} where a failed step's result is
// {"error":{"message","code"}}, or {"ok":false,"error":...} when connecting fails. Exit 0 either way.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, planText, headersText] = process.argv.slice(2);
const plan = JSON.parse(planText || '[]');
const headers = JSON.parse(headersText || '{}');

async function step(client, transport, s) {
    switch (s.op) {
    case 'listTools': return client.listTools();
    case 'callTool': return client.callTool({ name: s.name, arguments: s.arguments || {} });
    case 'listResources': return client.listResources();
    case 'listPrompts': return client.listPrompts();
    case 'server': return { protocolVersion: transport.protocolVersion, info: client.getServerVersion() };
    default: throw new Error(`unknown op ${s.op}`);
    }
}

const client = new Client({ name: 'bulwark-ns-client', version: '1.0.0' }, { capabilities: {} });
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
console.log(JSON.stringify({ ok: true, results }));

// mcp_oauth_gateway: OAuth access tokens on the MCP routes (docs/MCP.md "OAuth callers"), the
// Origin allow-list, the configured limits (result cap, call timeout, sessions per principal)
// and calls per minute per (principal, tool) ("Limits"), through the real binary with the
// official @modelcontextprotocol/sdk client, against a crafted MCP server written here. The
// tokens come from a test issuer made here with `jose` (an ES256 key; its JWK Set is the
// gateway's mcp.oauth.jwks_file). Every refusal is checked not to reach the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from
    '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { extractWWWAuthenticateParams, discoverOAuthProtectedResourceMetadata } from
    '@modelcontextprotocol/sdk/client/auth.js';
import {
    Scope, initData, startGatewayWithYaml, request, receiptAt, receipts, predicate, RECEIPT_ID_RE,
    waitFor, run,
} from './lib/harness.mjs';
import { api } from './lib/tenants.mjs';

const PUBLIC = 'https://gw.example.com';
const ISSUER = 'https://idp.example.com';
const AUD = `${PUBLIC}/mcp/crafted`;
const CPM = 3; // mcp.calls_per_minute: small, so the limit is reached in a test

const POLICY = `version: 1
rules:
  - id: list-tools
    match: {route: mcp.tools_list}
    effect: allow
  - id: no-delete
    match: {route: mcp.tools_call, tool: delete_all}
    effect: deny
    reason: TOOL_DENIED
  - id: admins-only
    match: {route: mcp.tools_call, tool: admin_tool, role: [owner, admin]}
    effect: allow
  - id: admin-tool-others
    match: {route: mcp.tools_call, tool: admin_tool}
    effect: deny
    reason: TOOL_DENIED
  - id: other-calls
    match: {route: mcp.tools_call}
    effect: allow
`;

const TOOLS = ['echo', 'delete_all', 'admin_tool'].map((name) => ({
    name, description: `the ${name} tool`, inputSchema: { type: 'object' },
}));

// The crafted upstream: every request is kept in `seen`.
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
        if (msg.id === undefined) return res.writeHead(202).end();
        const json = (result) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
        };
        switch (msg.method) {
        case 'initialize':
            upstreamSessions++;
            res.writeHead(200, { 'content-type': 'application/json',
                                 'mcp-session-id': `upstream-${upstreamSessions}` });
            return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {
                protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} },
                serverInfo: { name: 'crafted', version: '1.0.0' } } }));
        case 'tools/list':
            return json({ tools: TOOLS });
        case 'tools/call': {
            const a = msg.params.arguments || {};
            if (msg.params.name === 'big') // an answer of a.bytes characters of text
                return json({ content: [{ type: 'text', text: 'x'.repeat(a.bytes) }] });
            if (msg.params.name === 'slow') // answers after a.ms
                return setTimeout(() => json({ content: [{ type: 'text', text: 'late' }] }), a.ms);
            return json({ content: [{ type: 'text', text: `called ${msg.params.name}` }] });
        }
        default:
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id,
                                             error: { code: -32601, message: 'unknown' } }));
        }
    });
}

const scope = new Scope();
let gw, server, url, orgId, agentKey, key, otherKey, opKey;
after(async () => {
    server?.close();
    await scope.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);
// A token from the test issuer; o overrides claims, opts the header or the signing key.
async function token(o = {}, { kid = 'k1', signWith = key, typ = 'at+jwt' } = {}) {
    const claims = { iss: ISSUER, aud: AUD, sub: 'alice', org: orgId, scope: 'mcp tools',
                     iat: now(), exp: now() + 300, ...o };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ })
        .sign(signWith.privateKey);
}

before(async () => {
    key = await generateKeyPair('ES256');
    otherKey = await generateKeyPair('ES256'); // same kid, not the issuer's key
    server = http.createServer(mcpServer);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    await fsp.writeFile(path.join(data.dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const port = server.address().port;
    const yaml = `policy: policy.yaml
egress:
  allow: ["127.0.0.1:${port}"]
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${port}/mcp
  allowed_origins: [https://app.example.com, "http://localhost:8080"]
  calls_per_minute: ${CPM}
  result_max_bytes: 4096
  call_timeout_ms: 800
  max_sessions_per_key: 3
  oauth:
    issuer: ${ISSUER}
    public_url: ${PUBLIC}
    jwks_file: ${path.join(data.dir, 'jwks.json')}
    scopes: [mcp]
`;
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    opKey = JSON.parse(op.stdout.trim().split('\n').pop()).key;
    gw = await startGatewayWithYaml(scope, yaml, { data });
    orgId = gw.keys.org_id;
    agentKey = gw.keys.agent_key;
    url = `http://127.0.0.1:${gw.port}/mcp/crafted`;
});

async function connect(bearer, extra = {}) {
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${bearer}`, ...extra } },
    });
    await client.connect(transport);
    return { client, transport };
}

const rpc = (method, params, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
function post(body, headers = {}, bearer, p = '/mcp/crafted') {
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                'mcp-protocol-version': '2025-06-18', ...headers };
    if (bearer) h.authorization = `Bearer ${bearer}`;
    return request(gw.port, { method: 'POST', path: p, headers: h, body });
}
const calls = (name) => seen.filter((s) => s.msg?.method === 'tools/call' &&
                                           s.msg.params?.name === name).length;
const CHALLENGE = `resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource/mcp/crafted"`;

test('401 names the metadata; the SDK discovers PRM from it; a token for its resource calls a tool', async () => {
    const none = await post(rpc('tools/list', {}));
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], `Bearer ${CHALLENGE}, scope="mcp"`);
    assert.equal(none.json.error.code, 'UNAUTHENTICATED');
    // the SDK's own parsing of the challenge, then its RFC 9728 discovery; the public URL is
    // served here by the gateway itself (as behind a reverse proxy for gw.example.com)
    const res = new Response(null, { status: 401,
                                     headers: { 'WWW-Authenticate': none.headers['www-authenticate'] } });
    const params = extractWWWAuthenticateParams(res);
    assert.equal(params.scope, 'mcp');
    const viaGateway = (u, init) => fetch(String(u).replace(PUBLIC, `http://127.0.0.1:${gw.port}`), init);
    const prm = await discoverOAuthProtectedResourceMetadata(
        new URL(AUD), { resourceMetadataUrl: params.resourceMetadataUrl }, viaGateway);
    assert.equal(prm.resource, AUD);
    assert.deepEqual(prm.authorization_servers, [ISSUER]);
    assert.deepEqual(prm.scopes_supported, ['mcp']);
    // a token the issuer made for that resource, with those scopes
    const t = await token({ aud: prm.resource, iss: prm.authorization_servers[0],
                            scope: prm.scopes_supported.join(' '), sub: 'discoverer' });
    const { client } = await connect(t);
    const { tools } = await client.listTools();
    // role agent: the admins-only tool is hidden, the denied one too
    assert.deepEqual(tools.map((x) => x.name), ['echo']);
    const r = await client.callTool({ name: 'echo', arguments: {} });
    assert.equal(r.content[0].text, 'called echo');
    await assert.rejects(client.callTool({ name: 'admin_tool', arguments: {} }),
                         (e) => e.code === -32001 && e.data.code === 'TOOL_DENIED');
    assert.equal(calls('admin_tool'), 0);
    await client.close();
    // a bad Bulwark key gets the challenge too, with error="invalid_token"
    const bad = await post(rpc('tools/list', {}), {}, `bwk_${'A'.repeat(43)}`);
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['www-authenticate'],
                 `Bearer error="invalid_token", ${CHALLENGE}, scope="mcp"`);
});

test('the decision receipt and the request log carry the OAuth principal, never the token', async () => {
    const t = await token({ sub: 'receipt-sub' });
    const r = await post(rpc('tools/call', { name: 'echo', arguments: {} }), {}, t);
    assert.equal(r.status, 200, r.text);
    const dec = receipts(gw.dir).filter((x) => predicate(x).route === 'mcp.tools_call' &&
                                             predicate(x).kind === 'decision');
    const all = predicate(dec[dec.length - 1]);
    assert.equal(all.org_id, orgId);
    assert.match(all.principal, /^oauth_[0-9a-f]{32}$/);
    assert.equal(all.agent ?? '', '', 'no agent');
    assert.equal(all.decision, 'allow');
    // the request line (written by the log thread, so waited for) names org and principal
    await waitFor(() => gw.proc.stderr.split('\n').some((l) => l.includes(`"key_id":"${all.principal}"`)),
                  { what: `a request line with key_id ${all.principal}:\n${gw.proc.stderr.slice(-3000)}` });
    assert.ok(!gw.proc.stderr.includes(t), 'the token is never logged');
    assert.ok(!gw.proc.stderr.includes(t.split('.')[2]), 'nor its signature');
});

test('refused tokens: wrong audience, expired, wrong issuer, another key, no scope, unknown org', async () => {
    const n = seen.length;
    const cases = [
        [await token({ aud: `${PUBLIC}/mcp/other` }), 401, 'MCP_OAUTH_AUDIENCE', 'invalid_token'],
        [await token({ exp: now() - 3600, iat: now() - 7200 }), 401, 'MCP_OAUTH_EXPIRED', 'invalid_token'],
        [await token({ iss: 'https://evil.example.com' }), 401, 'MCP_OAUTH_ISSUER', 'invalid_token'],
        [await token({}, { signWith: otherKey }), 401, 'MCP_OAUTH_TOKEN_INVALID', 'invalid_token'],
        [await token({ iss: 'https://evil.example.com' }, { signWith: otherKey }), 401,
         'MCP_OAUTH_TOKEN_INVALID', 'invalid_token'], // unsigned: which claim is wrong is not said
        [await token({ org: undefined }), 401, 'MCP_OAUTH_TOKEN_INVALID', 'invalid_token'],
        [await token({ scope: 'tools' }), 403, 'MCP_OAUTH_INSUFFICIENT_SCOPE', 'insufficient_scope'],
        ['not.a.jwt', 401, 'MCP_OAUTH_TOKEN_INVALID', 'invalid_token'],
    ];
    for (const [t, status, code, error] of cases) {
        const r = await post(rpc('tools/call', { name: 'echo', arguments: {} }), {}, t);
        assert.equal(r.status, status, `${code}: ${r.text}`);
        assert.equal(r.json.error.code, code);
        assert.equal(r.headers['www-authenticate'],
                     `Bearer error="${error}", ${CHALLENGE}, scope="mcp"`);
        assert.ok(!r.text.includes(t.slice(0, 20)), 'no token bytes in the answer');
    }
    // an org the gateway does not serve: a well-formed id nobody has, a name, another shape;
    // one answer for every case, no challenge (the token itself is fine)
    const org403 = [];
    for (const org of ['org_0123456789abcdef', 'default', "org_'OR'1'='1", 'ORG_0123456789ABCDEF']) {
        const r = await post(rpc('tools/call', { name: 'echo', arguments: {} }), {},
                             await token({ org }));
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'MCP_OAUTH_ORG_UNKNOWN');
        org403.push(r.text);
    }
    assert.equal(new Set(org403).size, 1, 'the same answer whatever the org');
    // the SDK with an expired token fails to connect
    await assert.rejects(connect(await token({ exp: now() - 3600, iat: now() - 7200 })));
    // a token in the query string is refused before anything else
    const q = await post(rpc('ping', {}), {}, null,
                         `/mcp/crafted?access_token=${await token()}`);
    assert.equal(q.status, 400);
    assert.equal(seen.length, n, 'no refused request reached the server');
    // a token is only for the MCP routes: the API and the model routes know Bulwark keys only
    const good = await token({ sub: 'elsewhere' });
    for (const [method, p] of [['GET', '/api/v1/me'], ['POST', '/v1/chat/completions']]) {
        const r = await request(gw.port, { method, path: p, body: method === 'POST' ? '{}' : undefined,
                                           headers: { authorization: `Bearer ${good}`,
                                                      'content-type': 'application/json' } });
        assert.equal(r.status, 401, `${p}: ${r.text}`);
    }
});

test('no key set loaded yet (the IdP unreachable): 503 MCP_OAUTH_UNAVAILABLE, keys still work', async () => {
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const port = server.address().port;
    const yaml = `policy: policy.yaml
egress:
  allow: ["127.0.0.1/32"]
mcp:
  servers:
    - name: crafted
      url: http://127.0.0.1:${port}/mcp
  oauth:
    issuer: ${ISSUER}
    public_url: ${PUBLIC}
    jwks_url: http://127.0.0.1:9/jwks
    scopes: [mcp]
`;
    const g = await startGatewayWithYaml(scope, yaml, { data });
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const n = seen.length;
    const r = await request(g.port, { method: 'POST', path: '/mcp/crafted', body: rpc('ping', {}),
                                      headers: { ...h, authorization: `Bearer ${await token()}` } });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'MCP_OAUTH_UNAVAILABLE');
    assert.equal(r.headers['retry-after'], '5');
    assert.equal(seen.length, n);
    const k = await request(g.port, { method: 'POST', path: '/mcp/crafted',
                                      body: rpc('initialize', { protocolVersion: '2025-06-18',
                                                                capabilities: {},
                                                                clientInfo: { name: 't', version: '1' } }),
                                      headers: { ...h, authorization: `Bearer ${g.keys.agent_key}` } });
    assert.equal(k.status, 200, k.text);
    g.proc.kill();
});

test('a token of a deleted org is refused at once (no stale org)', async () => {
    const made = await api(gw.port, 'POST', '/api/v1/orgs', opKey, { name: 'short-lived' });
    assert.equal(made.status, 201, made.text);
    const t = await token({ sub: 'deleted-org-sub', org: made.json.id });
    const ok = await post(rpc('tools/call', { name: 'echo', arguments: {} }), {}, t);
    assert.equal(ok.status, 200, ok.text);
    const d = receiptAt(gw.dir, Number(RECEIPT_ID_RE.exec(ok.headers['bulwark-receipt-id'])[1]));
    assert.equal(predicate(d).org_id, made.json.id, 'the call is in the token\'s org');
    const dry = await api(gw.port, 'POST', `/api/v1/orgs/${made.json.id}/delete?dry_run=1`, opKey, {});
    assert.equal(dry.status, 200, dry.text);
    const go = await api(gw.port, 'POST', `/api/v1/orgs/${made.json.id}/delete`, opKey,
                         { confirm_token: dry.json.confirm_token });
    assert.equal(go.status, 200, go.text);
    for (let i = 0; i < 4; i++) { // every worker, at once (not after the cache's second)
        const r = await post(rpc('tools/call', { name: 'echo', arguments: {} }, i), {}, t);
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'MCP_OAUTH_ORG_UNKNOWN');
    }
});

test('a session is bound to its principal: another sub, and a Bulwark key of the same org, get 404', async () => {
    const { client, transport } = await connect(await token({ sub: 'sess-alice' }));
    const sid = transport.sessionId;
    assert.match(sid, /^[0-9a-f]{32}$/);
    const h = { 'mcp-session-id': sid };
    const body = rpc('tools/list', {});
    const bob = await post(body, h, await token({ sub: 'sess-bob' }));
    assert.equal(bob.status, 404);
    assert.equal(bob.json.error.code, 'MCP_SESSION_UNKNOWN');
    const k = await post(body, h, agentKey);
    assert.equal(k.status, 404);
    // the principal is the sub, not the token: a fresh token of the same sub keeps the session
    const again = await post(body, h, await token({ sub: 'sess-alice', iat: now() - 1 }));
    assert.equal(again.status, 200, again.text);
    // and a Bulwark key's session is not usable with a token
    const viaKey = await connect(agentKey);
    const t = await post(body, { 'mcp-session-id': viaKey.transport.sessionId },
                         await token({ sub: 'sess-alice' }));
    assert.equal(t.status, 404);
    await viaKey.client.close();
    await client.close();
});

test('Origin: a listed origin passes, anything else is 403', async () => {
    const t = await token({ sub: 'origin-sub' });
    const ok = await post(rpc('ping', {}), { origin: 'https://app.example.com' }, t);
    assert.notEqual(ok.status, 403, ok.text);
    const ok2 = await post(rpc('ping', {}), { origin: 'http://localhost:8080' }, t);
    assert.notEqual(ok2.status, 403, ok2.text);
    for (const o of ['https://evil.example', 'https://app.example.com/', 'https://APP.example.com',
                     'http://app.example.com', 'https://app.example.com:443', 'null',
                     'https://app.example.com.evil.example', 'http://localhost:8081']) {
        const r = await post(rpc('ping', {}), { origin: o }, t);
        assert.equal(r.status, 403, o);
        assert.equal(r.json.error.code, 'ORIGIN_NOT_ALLOWED');
    }
});

test('calls per minute per (principal, tool): over the limit a 429 JSON-RPC error with a receipt; nothing forwarded', async () => {
    const t = await token({ sub: 'rate-sub' });
    const before = calls('limited');
    for (let i = 0; i < CPM; i++) {
        const r = await post(rpc('tools/call', { name: 'limited', arguments: {} }, i), {}, t);
        assert.equal(r.status, 200, r.text);
    }
    const over = await post(rpc('tools/call', { name: 'limited', arguments: {} }, 9), {}, t);
    assert.equal(over.status, 429, over.text);
    assert.equal(over.json.error.code, -32001);
    assert.equal(over.json.error.data.code, 'MCP_RATE_LIMITED');
    assert.ok(Number(over.headers['retry-after']) >= 1);
    const d = receiptAt(gw.dir, Number(RECEIPT_ID_RE.exec(over.json.error.data.receipt_id)[1]));
    assert.equal(predicate(d).decision, 'deny');
    assert.equal(predicate(d).reason, 'MCP_RATE_LIMITED');
    assert.equal(predicate(d).rule, 'limits', 'the limiter refused, not the allowing rule');
    assert.match(predicate(d).principal, /^oauth_[0-9a-f]{32}$/);
    assert.equal(calls('limited'), before + CPM, 'the refused call never reached the server');
    // another tool of the same principal, and the same tool of another principal, still pass
    const other = await post(rpc('tools/call', { name: 'limited2', arguments: {} }), {}, t);
    assert.equal(other.status, 200);
    const carol = await post(rpc('tools/call', { name: 'limited', arguments: {} }), {},
                             await token({ sub: 'rate-carol' }));
    assert.equal(carol.status, 200);
    // a denied tool does not use the budget (nor any table entry): the policy refuses first
    for (let i = 0; i < CPM + 2; i++) {
        const r = await post(rpc('tools/call', { name: 'delete_all', arguments: {} }), {}, t);
        assert.equal(r.json.error.data.code, 'TOOL_DENIED');
    }
    // the SDK sees the refusal as an error
    const { client } = await connect(t);
    await assert.rejects(client.callTool({ name: 'limited', arguments: {} }), /429|MCP_RATE_LIMITED/);
    await client.close();
});

test('calls per minute under concurrency: exactly the limit passes', async () => {
    const t = await token({ sub: 'burst-sub' });
    const before = calls('burst');
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) =>
        post(rpc('tools/call', { name: 'burst', arguments: {} }, i), {}, t)));
    const statuses = all.map((r) => r.status).sort();
    assert.equal(statuses.filter((x) => x === 200).length, CPM, statuses.join(','));
    assert.equal(statuses.filter((x) => x === 429).length, 12 - CPM, statuses.join(','));
    assert.equal(calls('burst'), before + CPM);
});

test('the configured result cap, call timeout and sessions per principal apply', async () => {
    const t = await token({ sub: 'limits-sub' });
    const small = await post(rpc('tools/call', { name: 'big', arguments: { bytes: 1000 } }), {}, t);
    assert.equal(small.status, 200, small.text);
    const big = await post(rpc('tools/call', { name: 'big', arguments: { bytes: 8000 } }, 2), {}, t);
    assert.equal(big.status, 502);
    assert.equal(big.json.error.data.code, 'MCP_RESULT_TOO_LARGE');
    const t0 = Date.now();
    const slow = await post(rpc('tools/call', { name: 'slow', arguments: { ms: 3000 } }), {}, t);
    assert.equal(slow.status, 504, slow.text);
    assert.equal(slow.json.error.data.code, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t0 < 2900, 'cut at the configured 800 ms, not the 3 s answer');
    // three sessions per principal; the fourth initialize is refused; another principal is not
    const st = await token({ sub: 'sessions-sub' });
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await connect(st));
    await assert.rejects(connect(st), /429|MCP_SESSIONS_EXHAUSTED/);
    const other = await connect(await token({ sub: 'sessions-other' }));
    await other.client.close();
    for (const o of open) await o.client.close();
});

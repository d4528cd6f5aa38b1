// mcp_org_servers: each org's own MCP servers (docs/MCP.md "Per-org servers") on SQLite and
// PostgreSQL, with the official @modelcontextprotocol/sdk client through the gateway to
// `bulwark mock-mcp` as an org server and as an operator server with a configured credential:
// an admin creates one (a member cannot), another org neither sees nor calls it (404), the
// credential is never shown and is what reaches the upstream (mock-mcp's last_authorization),
// the caller's token never does, a URL the egress guard refuses is refused at save, a name
// rebound to 127.0.0.1 after the save is refused at connect (hosts file bind-mounted in a
// private mount namespace, as egress_rebind.test.mjs) even when the unguarded model upstream
// has a connection open to that name, delete works at once on every worker, at most 64 servers
// per org, and a master key rotation re-wraps the sealed credential.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
    Scope, Proc, BIN, childEnv, run, configYaml, request, receipts, hostsNamespaceUnavailable,
} from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';
import { startMcpMock, connectMcp } from './lib/mcp.mjs';

const POLICY = `version: 1
rules:
  - id: list-tools
    match: {route: mcp.tools_list}
    effect: allow
  - id: calls
    match: {route: mcp.tools_call}
    effect: allow
`;
const ORG_SECRET = 'org-secret-Zq7wX1';
const OP_SECRET = 'op-secret-Yt5vB3';

const INIT = {
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
};

// One raw MCP POST (no SDK): {status, json, text}.
function mcpPost(port, server, key, body = INIT) {
    return request(port, {
        method: 'POST', path: `/mcp/${server}`,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                   ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
    });
}

async function sdkEcho(port, server, key, text) {
    const { client } = await connectMcp(`http://127.0.0.1:${port}/mcp/${server}`,
                                        { headers: { Authorization: `Bearer ${key}` } });
    try {
        const tools = await client.listTools();
        const r = await client.callTool({ name: 'echo', arguments: { text } });
        return { tools: tools.tools.map((t) => t.name), text: r.content[0].text };
    } finally {
        await client.close();
    }
}

for (const backend of ['sqlite', 'pg']) {
    describe(`per-org MCP servers on ${backend}`, () => {
        const scope = new Scope();
        let w, mock, member;
        before(async () => {
            mock = await startMcpMock(scope);
            process.env.BW_TEST_OPSRV_CRED = OP_SECRET; // the operator's credential reference
            const yaml = `policy: policy.yaml
mcp:
  servers:
    - name: opsrv
      url: ${mock.url}
      credential: env:BW_TEST_OPSRV_CRED
egress:
  allow: [127.0.0.1/32]
connections:
  allow_http: true
`;
            w = await startTenants(scope, backend, { yaml, files: { 'policy.yaml': POLICY } });
            member = await person(w, w.A.admin, w.A.org_id, { email: 'm@a.example', role: 'member' });
        });
        after(async () => {
            delete process.env.BW_TEST_OPSRV_CRED;
            if (w) await w.stop();
            await scope.cleanup();
        });

        test('only an admin creates; the credential is never shown', async () => {
            const body = { name: 'tools', url: mock.url, credential: ORG_SECRET };
            const m = await api(w.port, 'POST', '/api/v1/mcp/servers', member.key, body);
            assert.equal(m.status, 403, m.text);
            const ag = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.agent, body);
            assert.equal(ag.status, 403, ag.text);
            const r = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin, body);
            assert.equal(r.status, 201, r.text);
            assert.equal(r.json.name, 'tools');
            assert.equal(r.json.source, 'org');
            assert.equal(r.json.has_credential, true);
            assert.match(r.json.receipt_id, /^[0-9a-f]{8}\.\d+$/);
            assert.ok(!r.text.includes(ORG_SECRET));
            assert.ok(!r.text.includes('/mcp'), 'only scheme://host:port is shown');
            // the same name again, and the operator's name: 409
            const again = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin, body);
            assert.equal(again.status, 409, again.text);
            const shadow = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin,
                                     { ...body, name: 'opsrv' });
            assert.equal(shadow.status, 409, shadow.text);
            assert.equal(shadow.json.error.code, 'CONFLICT');
            // receipts: one admin receipt for the create, none for the refusals
            const created = receipts(w.dir).filter((x) => x.obj.predicate?.route === 'mcp_server.create');
            assert.equal(created.length, 1);
        });

        test('strict bodies and names', async () => {
            const bad = [
                { name: 'x', url: mock.url, extra: 1 },
                { name: 'Bad Name', url: mock.url },
                { name: 'a/b', url: mock.url },
                { name: 'x', url: mock.url, credential: 'has space' },
                { name: 'x', url: mock.url, credential: '' },
                { name: 'x', url: mock.url, credential: 7 },
                { name: 'x', url: 'http://user:pw@127.0.0.1:1/mcp' },
                { name: 'x' },
            ];
            for (const b of bad) {
                const r = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin, b);
                assert.equal(r.status, 400, `${JSON.stringify(b)}: ${r.text}`);
                assert.ok(!r.text.includes('pw@'));
            }
            const dup = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin,
                                  Buffer.from('{"name":"x","name":"y","url":"http://127.0.0.1:1/"}'));
            assert.equal(dup.status, 400, dup.text);
        });

        test('the egress guard refuses a URL at save', async () => {
            for (const url of ['http://169.254.169.254/latest/meta-data', 'http://10.0.0.1:8080/mcp',
                               'http://[::1]:9/mcp', 'http://localhost:9/mcp', 'ftp://example.com/']) {
                const r = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin,
                                    { name: 'evil', url, credential: 'x1' });
                assert.equal(r.status, 400, `${url}: ${r.text}`);
                assert.equal(r.json.error.code, url.startsWith('ftp') ? r.json.error.code : 'EGRESS_BLOCKED', r.text);
            }
            const list = await api(w.port, 'GET', '/api/v1/mcp/servers', w.A.admin);
            assert.ok(!list.json.data.some((s) => s.name === 'evil'));
        });

        test('listing: the operator\'s and the org\'s, never a credential, never another org\'s', async () => {
            const a = await api(w.port, 'GET', '/api/v1/mcp/servers', w.A.agent);
            assert.equal(a.status, 200, a.text);
            const names = a.json.data.map((s) => `${s.source}:${s.name}:${s.has_credential}`);
            assert.deepEqual(names.sort(), ['operator:opsrv:true', 'org:tools:true']);
            assert.ok(!a.text.includes(ORG_SECRET) && !a.text.includes(OP_SECRET));
            assert.ok(!a.text.includes('BW_TEST_OPSRV_CRED'), 'not even the reference');
            const b = await api(w.port, 'GET', '/api/v1/mcp/servers', w.B.owner);
            assert.deepEqual(b.json.data.map((s) => s.name), ['opsrv']);
        });

        test('the SDK through the org server: its credential upstream, never the caller\'s key', async () => {
            const r = await sdkEcho(w.port, 'tools', w.A.agent, 'hello org');
            assert.deepEqual(r.tools.sort(), ['ask_sampling', 'delete_everything', 'echo', 'mutable', 'slow']);
            assert.equal(r.text, 'hello org');
            const st = await mock.stats();
            assert.equal(st.last_authorization, `Bearer ${ORG_SECRET}`);
            const op = await sdkEcho(w.port, 'opsrv', w.A.agent, 'hello operator');
            assert.equal(op.text, 'hello operator');
            assert.equal((await mock.stats()).last_authorization, `Bearer ${OP_SECRET}`);
        });

        test('another org can neither call nor delete it (404)', async () => {
            const before = (await mock.stats()).requests;
            const r = await mcpPost(w.port, 'tools', w.B.owner);
            assert.equal(r.status, 404, r.text);
            assert.equal(r.json.error.code, 'MCP_SERVER_UNKNOWN');
            const d = await api(w.port, 'DELETE', '/api/v1/mcp/servers/tools', w.B.owner);
            assert.equal(d.status, 404, d.text);
            assert.equal((await mock.stats()).requests, before, 'nothing reached the server');
            // B makes its own "tools": a name is per org, each sees its own
            const own = await api(w.port, 'POST', '/api/v1/mcp/servers', w.B.owner,
                                  { name: 'tools', url: mock.url });
            assert.equal(own.status, 201, own.text);
            assert.equal(own.json.has_credential, false);
            await sdkEcho(w.port, 'tools', w.B.owner, 'from b');
            assert.equal((await mock.stats()).last_authorization, null, 'B\'s server has no credential');
            await sdkEcho(w.port, 'tools', w.A.agent, 'from a');
            assert.equal((await mock.stats()).last_authorization, `Bearer ${ORG_SECRET}`);
        });

        test('delete: admin only, receipted, effective at once', async () => {
            const m = await api(w.port, 'DELETE', '/api/v1/mcp/servers/tools', member.key);
            assert.equal(m.status, 403, m.text);
            const op = await api(w.port, 'DELETE', '/api/v1/mcp/servers/opsrv', w.A.admin);
            assert.equal(op.status, 404, 'the operator\'s server is not the org\'s');
            // every worker caches the lookup: warm them all, concurrently
            // (a ping without a session: the mock refuses it, 502; what matters is "not 404")
            const PING = { jsonrpc: '2.0', id: 7, method: 'ping' };
            const warm = await Promise.all(Array.from({ length: 16 }, () => mcpPost(w.port, 'tools', w.A.agent, PING)));
            assert.ok(warm.every((x) => x.status === 502), warm.map((x) => x.status).join());
            const d = await api(w.port, 'DELETE', '/api/v1/mcp/servers/tools', w.A.admin);
            assert.equal(d.status, 200, d.text);
            assert.equal(d.json.deleted, true);
            // ...and no worker serves it after the answer, whichever gets the request
            const gone = await Promise.all(Array.from({ length: 16 }, () => mcpPost(w.port, 'tools', w.A.agent, PING)));
            assert.ok(gone.every((x) => x.status === 404), gone.map((x) => x.status).join());
            const again = await api(w.port, 'DELETE', '/api/v1/mcp/servers/tools', w.A.admin);
            assert.equal(again.status, 404);
            const del = receipts(w.dir).filter((x) => x.obj.predicate?.route === 'mcp_server.delete');
            assert.equal(del.length, 1);
            // B's own is untouched
            const b = await mcpPost(w.port, 'tools', w.B.owner);
            assert.equal(b.status, 200, b.text);
        });

        test('at most 64 servers per org', async () => {
            // B has "tools" already
            for (let i = 1; i < 64; i++) {
                const r = await api(w.port, 'POST', '/api/v1/mcp/servers', w.B.owner,
                                    { name: `s${i}`, url: mock.url });
                assert.equal(r.status, 201, r.text);
            }
            const over = await api(w.port, 'POST', '/api/v1/mcp/servers', w.B.owner,
                                   { name: 's64', url: mock.url });
            assert.equal(over.status, 409, over.text);
            const list = await api(w.port, 'GET', '/api/v1/mcp/servers', w.B.owner);
            assert.equal(list.json.data.length, 65, 'the operator\'s and the org\'s 64');
            // A is not affected by B's count
            const a = await api(w.port, 'POST', '/api/v1/mcp/servers', w.A.admin,
                                { name: 's64', url: mock.url });
            assert.equal(a.status, 201, a.text);
        });
    });
}

// DNS rebinding: the gateway runs with its /etc/hosts bind-mounted from a file the test writes
// (unshare -m; the binary reads /etc/hosts through glibc as always). The save-time check sees a
// public address; the hosts file then points the name at 127.0.0.1, where mock-mcp listens and
// which egress.allow does not admit: the connect-time hook refuses it, nothing arrives.
describe('DNS rebinding after the save is refused at connect', () => {
    const scope = new Scope();
    let skip = null, port, mock, keys, hosts;
    before(async () => {
        skip = await hostsNamespaceUnavailable();
        if (skip) return;
        mock = await startMcpMock(scope);
        const dir = path.join(await scope.tmpdir('bw-it-rebind-mcp-'), 'data');
        hosts = path.join(path.dirname(dir), 'hosts');
        await fsp.writeFile(hosts, '8.8.8.8 rebind.bw-mcp.example\n');
        const init = await run(['init', '--data', dir]);
        assert.equal(init.code, 0, init.stderr);
        keys = JSON.parse(init.stdout);
        await fsp.writeFile(path.join(dir, 'policy.yaml'), POLICY);
        const cfg = path.join(dir, 'test-config.yaml');
        // The operator's model upstream is the same host:port by name (the operator's config is
        // trusted and unguarded): a connection it opens must never be reused for the MCP server.
        // One worker, so both transfers share the worker's libcurl state (with a shared multi
        // handle the MCP call reuses the model call's connection to 127.0.0.1 and gets 200).
        await fsp.writeFile(path.join(dir, 'policy.yaml'),
                            POLICY + '  - id: chat\n    match: {route: chat}\n    effect: allow\n');
        await fsp.writeFile(cfg, configYaml({ apiKeyEnv: null, workers: 1,
                                              upstream: `http://rebind.bw-mcp.example:${mock.port}` }) +
                            'policy: policy.yaml\nconnections:\n  allow_http: true\n');
        const script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"';
        const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh',
                                        hosts, BIN, 'serve', '--data', dir, '--config', cfg,
                                        '--listen', '127.0.0.1:0'],
                            { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        const p = new Proc(child, 'serve (hosts)');
        scope.procs.push(p);
        port = Number((await p.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
    });
    after(() => scope.cleanup());

    test('a name that resolved to a public address at save and to loopback now', async (t) => {
        if (skip) return t.skip(skip);
        const url = `http://rebind.bw-mcp.example:${mock.port}/mcp`;
        const r = await api(port, 'POST', '/api/v1/mcp/servers', keys.admin_key,
                            { name: 'rebound', url, credential: ORG_SECRET });
        assert.equal(r.status, 201, r.text);
        // the same name, already loopback at save: refused there
        await fsp.writeFile(hosts, '127.0.0.1 rebind.bw-mcp.example\n');
        const direct = await api(port, 'POST', '/api/v1/mcp/servers', keys.admin_key,
                                 { name: 'direct', url });
        assert.equal(direct.status, 400, direct.text);
        assert.equal(direct.json.error.code, 'EGRESS_BLOCKED');
        assert.match(direct.json.error.message, /loopback/);
        // the model upstream call opens (and keeps) a connection to 127.0.0.1:PORT by that name
        const chat = await request(port, {
            method: 'POST', path: '/v1/chat/completions',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.agent_key}` },
            body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        });
        assert.notEqual(chat.status, 403, chat.text);
        const before = await mock.stats();
        const c = await mcpPost(port, 'rebound', keys.agent_key);
        assert.equal(c.status, 502, c.text);
        assert.equal(c.json.error.data.code, 'EGRESS_BLOCKED');
        assert.ok(!c.text.includes(ORG_SECRET));
        const after = await mock.stats();
        assert.equal(after.requests, before.requests, 'nothing reached the server');
    });
});

// Master key rotation re-wraps an org server's sealed credential like every other sealed record
// (docs/SECURITY.md "Master key rotation"): `vault status` counts it, `rotate-master` re-wraps
// it, and the gateway still sends it upstream under the new key.
test('master key rotation re-wraps the sealed MCP credential', async () => {
    const scope = new Scope();
    try {
        const mock = await startMcpMock(scope);
        const parent = await scope.tmpdir('bw-it-mcp-rotate-');
        const dir = path.join(parent, 'data');
        const init = await run(['init', '--data', dir]);
        assert.equal(init.code, 0, init.stderr);
        const keys = JSON.parse(init.stdout);
        await fsp.writeFile(path.join(dir, 'policy.yaml'), POLICY);
        const cfg = path.join(dir, 'test-config.yaml');
        await fsp.writeFile(cfg, configYaml({ apiKeyEnv: null }) +
                            'policy: policy.yaml\negress:\n  allow: [127.0.0.1/32]\n' +
                            'connections:\n  allow_http: true\n');
        const gw = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                               { name: 'bulwark serve' });
        const port = Number((await gw.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
        const made = await api(port, 'POST', '/api/v1/mcp/servers', keys.admin_key,
                               { name: 'tools', url: mock.url, credential: ORG_SECRET });
        assert.equal(made.status, 201, made.text);
        const cli = async (args) => {
            const r = await run(args, { timeoutMs: 30000 });
            assert.equal(r.code, 0, `bulwark ${args.join(' ')}: ${r.stderr}`);
            return JSON.parse(r.stdout.trim().split('\n').pop());
        };
        const before = await cli(['vault', 'status', '--data', dir]);
        assert.deepEqual(before.records, { [before.current]: 2 }, 'the pepper and the MCP credential');
        const keyFile = path.join(parent, 'new.key');
        const newId = (await cli(['vault', 'new-key', '--out', keyFile])).master_id;
        await fsp.copyFile(keyFile, path.join(dir, 'master.key.next'));
        await fsp.chmod(path.join(dir, 'master.key.next'), 0o600);
        gw.kill('SIGHUP');
        await gw.waitStderr(new RegExp(`next master key ${newId} loaded`));
        const ops = path.join(parent, 'ops');
        await cli(['init', '--data', ops, '--master-key', path.join(dir, 'master.key')]);
        const done = await cli(['vault', 'rotate-master', '--data', ops, '--database',
                                path.join(dir, 'bulwark.db'), '--new-key', keyFile]);
        // rewrapped counts every record: the MCP credential and the platform's pepper
        assert.equal(done.rewrapped, 2, JSON.stringify(done));
        assert.equal(done.platform_rewrapped, 1, JSON.stringify(done));
        assert.deepEqual((await cli(['vault', 'status', '--data', dir])).records, { [newId]: 2 });
        const r = await sdkEcho(port, 'tools', keys.agent_key, 'after rotation');
        assert.equal(r.text, 'after rotation');
        assert.equal((await mock.stats()).last_authorization, `Bearer ${ORG_SECRET}`);
    } finally {
        await scope.cleanup();
    }
});

// Scenario: the reference MCP server `@modelcontextprotocol/server-everything` (streamableHttp
// mode) run inside a private network namespace, reached by an official-SDK client in the same
// namespace: the pattern every gateway test against server-everything uses (it listens on every
// interface, so it must never share the host's network). Results come back as JSON on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { runInNamespace, everythingBash, clientBash, lastJson } from './lib/mcp.mjs';

test('server-everything in a namespace: the SDK lists its tools and calls echo', async () => {
    const port = 3001;
    const url = `http://127.0.0.1:${port}/mcp`;
    const r = await runInNamespace(
        everythingBash(port) +
        clientBash(url, [{ op: 'server' }, { op: 'listTools' },
                         { op: 'callTool', name: 'echo', arguments: { message: 'hi' } }]),
    );
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.ok, true, JSON.stringify(out));
    const [server, list, echo] = out.results;
    assert.equal(server.protocolVersion, '2025-11-25');
    const names = list.tools.map((t) => t.name);
    for (const n of ['echo', 'get-env'])
        assert.ok(names.includes(n), `tools lack ${n}: ${names}`);
    assert.match(echo.content[0].text, /hi/);
});

test('the namespace is private: a port open on the host loopback is not reachable inside', async () => {
    const srv = net.createServer((c) => c.end());
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
        const port = srv.address().port;
        const r = await runInNamespace(
            `node -e "require('net').connect(${port}, '127.0.0.1')` +
            `.on('connect', () => console.log(JSON.stringify({code: 'CONNECTED'})))` +
            `.on('error', e => console.log(JSON.stringify({code: e.code})))"\n`,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(lastJson(r.stdout).code, 'ECONNREFUSED');
    } finally {
        srv.close();
    }
});

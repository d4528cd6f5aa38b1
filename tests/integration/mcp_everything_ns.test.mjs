// Scenario: the reference MCP server `@modelcontextprotocol/server-everything` (streamableHttp
// mode) run inside a private network namespace, reached by an official-SDK client in the same
// namespace: the pattern every gateway test against server-everything uses (it listens on every
// interface, so it must never share the host's network). Results come back as JSON on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import { Scope, initData, configYaml } from './lib/harness.mjs';
import { runInNamespace, everythingBash, mockMcpBash, serveBash, clientBash, lastJson } from './lib/mcp.mjs';

const scope = new Scope();
after(() => scope.cleanup());

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

test('server-everything in a namespace: progress and sampling reach the scripted client', async () => {
    const url = 'http://127.0.0.1:3001/mcp';
    const r = await runInNamespace(everythingBash(3001) + clientBash(url, [
        { op: 'callTool', name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 },
          progress: true },
        { op: 'callTool', name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 20 } },
    ], { options: { sampling: 'sampled by the ns client' } }));
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.ok, true, JSON.stringify(out));
    const [slow, sample] = out.results;
    assert.deepEqual(slow._progress.map((p) => p.progress), [1, 2, 3]);
    assert.match(JSON.stringify(sample), /sampled by the ns client/);
    assert.equal(out.sampling.length, 1);
    assert.match(out.sampling[0].messages[0].content.text, /hello/);
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

test('gateway, mock-mcp and server-everything together in one namespace', async () => {
    const data = await initData(scope);
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ upstream: 'mock' }));
    const health = 'fetch("http://127.0.0.1:8080/healthz")' +
        '.then((r) => console.log(JSON.stringify({ health: r.status })))';
    const r = await runInNamespace(
        everythingBash(3001) + mockMcpBash(3002) +
        serveBash({ dataDir: data.dir, configPath, port: 8080 }) +
        `node -e '${health}'\n` +
        clientBash('http://127.0.0.1:3001/mcp', [{ op: 'server' }]) +
        clientBash('http://127.0.0.1:3002/mcp', [{ op: 'listTools' }]),
        { env: { BULWARK_UPSTREAM_KEY: 'sk-upstream-ns-test' } },
    );
    assert.equal(r.code, 0, r.stderr);
    const [h, ev, mm] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(h.health, 200);
    assert.equal(ev.results[0].protocolVersion, '2025-11-25');
    assert.equal(mm.results[0].tools.length, 5);
    assert.match(r.stderr, /== bulwark serve stderr ==/);
});

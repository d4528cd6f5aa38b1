// DNS rebinding: the address checked is the address connected. A name passes the save-time
// check (`egress check`, resolving to a public address), then the hosts file changes so the same
// name resolves to 127.0.0.1 where a test server listens. `egress fetch` does no pre-resolution
// (as a dispatch would not): libcurl resolves, and the opensocket hook refuses the loopback
// address, so the server never sees a connection. The control run with a CIDR allowlist entry
// shows the name really does reach the server, so the refusal is the hook's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Scope, runWithHosts, hostsNamespaceUnavailable } from './lib/harness.mjs';

const scope = new Scope();
let hosts;
let skip = null;
let server;
let port;
let connections = 0;
let requests = 0;

before(async () => {
    skip = await hostsNamespaceUnavailable();
    hosts = path.join(await scope.tmpdir('bw-it-rebind-'), 'hosts');
    server = http.createServer((req, res) => {
        requests++;
        res.end('secret internal page');
    });
    server.on('connection', () => connections++);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
});
after(async () => {
    await new Promise((r) => server.close(r));
    await scope.cleanup();
});

test('a name rebound to loopback after the save-time check is refused at connect', async (t) => {
    if (skip) return t.skip(skip);
    const url = `http://rebind.bw-egress.example:${port}/`;
    await fsp.writeFile(hosts, '8.8.8.8 rebind.bw-egress.example\n');
    const saved = await runWithHosts(hosts, ['egress', 'check', url]);
    assert.equal(saved.code, 0, `save-time check: ${saved.stdout}${saved.stderr}`);
    assert.equal(saved.stdout, 'allow\n');

    await fsp.writeFile(hosts, '127.0.0.1 rebind.bw-egress.example\n');
    const r = await runWithHosts(hosts, ['egress', 'fetch', url, '--timeout-ms', '5000']);
    assert.equal(r.code, 3, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^block: connect refused: 127\.0\.0\.1 is loopback/);
    assert.equal(connections, 0, 'no TCP connection reached the server');
    assert.equal(requests, 0);

    // Control: the same fetch with the loopback server allowlisted reaches it.
    const ok = await runWithHosts(hosts, ['egress', 'fetch', url, '--allow', '127.0.0.1/32']);
    assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}`);
    assert.equal(ok.stdout, 'secret internal page');
    assert.equal(requests, 1);
});

test('mixed answers at connect time: only allowed addresses are dialled', async (t) => {
    if (skip) return t.skip(skip);
    // ::1 first would be tried by happy eyeballs; both are loopback and both are refused.
    await fsp.writeFile(hosts, `::1 both.bw-egress.example\n127.0.0.1 both.bw-egress.example\n`);
    const before = connections;
    const r = await runWithHosts(hosts, ['egress', 'fetch', `http://both.bw-egress.example:${port}/`]);
    assert.equal(r.code, 3, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^block: connect refused: /);
    assert.equal(connections, before);
});

// Master key rotation on PostgreSQL (docs/SECURITY.md "Master key rotation"): a replica keeps
// serving while a second replica directory (`init --join`) re-wraps every org's secrets as the
// runtime role (org by org under row-level security) and the platform pepper record through
// its definer functions; a crash between batches is recovered by running it again. After the
// switch and a restart, API keys of both orgs and the operator key authenticate, the BYOK keys
// open (a chat that needs them succeeds), every record carries the new id, and a replica with
// only the old key cannot join.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, postJson, chatBody, run } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const scope = new Scope();
let w;
after(async () => { await w?.stop(); await scope.cleanup(); });

async function cli(args, env = {}) {
    const r = await run(args, { env, timeoutMs: 30000 });
    assert.equal(r.code, 0, `bulwark ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('rotation on PostgreSQL from a joined replica while another serves', async () => {
    w = await startTenants(scope, 'pg');
    const KEY_A = `sk-org-a-${crypto.randomBytes(16).toString('hex')}`;
    const KEY_B = `sk-org-b-${crypto.randomBytes(16).toString('hex')}`;
    assert.equal((await api(w.port, 'PUT', '/api/v1/provider-key', w.A.admin, { secret: KEY_A })).status, 200);
    assert.equal((await api(w.port, 'PUT', '/api/v1/provider-key', w.B.owner, { secret: KEY_B })).status, 200);
    const works = async (port) => {
        const chat = await postJson(port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
        assert.equal(chat.status, 200, chat.text); // the org key was opened for the call
        for (const k of [w.A.admin, w.B.owner])
            assert.equal((await api(port, 'GET', '/api/v1/provider-key', k)).status, 200);
        assert.equal((await api(port, 'GET', '/api/v1/orgs', w.op)).status, 200);
    };
    await works(w.port);
    const before = await cli(['vault', 'status', '--data', w.dir]);
    const oldId = before.current;
    assert.deepEqual(before.records, { [oldId]: 3 });

    const parent = path.dirname(w.dir);
    const keyFile = path.join(parent, 'new.key');
    const newId = (await cli(['vault', 'new-key', '--out', keyFile])).master_id;
    fs.copyFileSync(keyFile, path.join(w.dir, 'master.key.next'));
    fs.chmodSync(path.join(w.dir, 'master.key.next'), 0o600);
    w.proc.kill('SIGHUP');
    await w.proc.waitStderr(new RegExp(`next master key ${newId} loaded`));

    const ops = path.join(parent, 'ops');
    await cli(['init', '--data', ops, '--database', w.database, '--join',
               '--master-key', path.join(w.dir, 'master.key')]);
    const rotate = ['vault', 'rotate-master', '--data', ops, '--new-key', keyFile, '--batch', '1'];
    const crash = await run(rotate, { env: { BULWARK_TEST_ROTATE_CRASH_AFTER: '2' } });
    assert.equal(crash.code, 75, crash.stderr);
    const mid = await cli(['vault', 'status', '--data', w.dir]);
    assert.equal(mid.records[oldId], 1);
    assert.equal(mid.records[newId], 2);
    await works(w.port);
    const done = await cli(rotate);
    assert.equal(done.rewrapped, 1);
    assert.equal(done.platform_rewrapped, 1);
    assert.equal(done.switched, true);
    await works(w.port);

    assert.equal((await cli(['vault', 'switch', '--data', w.dir, '--new-key', keyFile])).switched, true);
    await w.proc.stop(5000);
    const configPath = path.join(w.dir, 'test-config.yaml');
    const proc = scope.spawn(['serve', '--data', w.dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                             { name: 'serve (pg, restarted)' });
    const port = Number((await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
    await works(port);
    assert.deepEqual((await cli(['vault', 'status', '--data', w.dir])).records, { [newId]: 3 });

    // A replica given only the old key cannot join: the pepper record does not open.
    const stale = await run(['init', '--data', path.join(parent, 'stale'), '--database', w.database,
                             '--join', '--master-key', path.join(ops, 'master.key.prev')]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /sealed under another master key/);
    await proc.stop(5000);
});

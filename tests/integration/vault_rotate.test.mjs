// Master key rotation (docs/SECURITY.md "Master key rotation"): `bulwark vault rotate-master`
// re-wraps every sealed record (two orgs' BYOK provider keys and the platform's API-key pepper)
// under a new master key while the gateway keeps serving, survives a crash between batches by
// being run again, and switches the key files; after a restart API keys still authenticate
// (the pepper did not change), the org keys still reach the upstream (the mock records the
// Authorization it saw), every record carries the new master id, and the old key alone no
// longer opens anything. The rotation's admin receipts are in the rotating directory's ledger.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, startMock, initData, configYaml, postJson, chatBody, run, receipts, predicate }
    from './lib/harness.mjs';
import { api } from './lib/tenants.mjs';

const scope = new Scope();
after(() => scope.cleanup());

async function cli(args, env = {}) {
    const r = await run(args, { env, timeoutMs: 30000 });
    assert.equal(r.code, 0, `bulwark ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function serve(dir, configPath, env) {
    const proc = scope.spawn(['serve', '--data', dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                             { env, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]) };
}

const keyHex = (f) => fs.readFileSync(f).toString('hex');

test('rotate the master key without downtime, crash half-way, restart', async () => {
    const mock = await startMock(scope);
    const data = await initData(scope);
    const dir = data.dir;
    const A = { admin: data.keys.admin_key, agent: data.keys.agent_key };
    const B = await cli(['org', 'create', '--data', dir, 'orgb']);
    const configPath = path.join(dir, 'test-config.yaml');
    fs.writeFileSync(configPath, configYaml({
        upstream: mock.v1,
        orgs: { default: ['gpt-4o-mini'], orgb: ['gpt-4o-mini'] },
    }));
    const env = { BULWARK_UPSTREAM_KEY: `sk-upstream-${crypto.randomBytes(8).toString('hex')}` };
    let gw = await serve(dir, configPath, env);

    // API keys of both orgs, one made through the API; a BYOK provider key per org.
    const made = await api(gw.port, 'POST', '/api/v1/keys', A.admin, { role: 'agent', name: 'rot' });
    assert.equal(made.status, 201, made.text);
    const bAgent = await api(gw.port, 'POST', '/api/v1/keys', B.owner_key, { role: 'agent' });
    assert.equal(bAgent.status, 201, bAgent.text);
    const KEY_A = `sk-org-a-${crypto.randomBytes(16).toString('hex')}`;
    const KEY_B = `sk-org-b-${crypto.randomBytes(16).toString('hex')}`;
    assert.equal((await api(gw.port, 'PUT', '/api/v1/provider-key', A.admin, { secret: KEY_A })).status, 200);
    assert.equal((await api(gw.port, 'PUT', '/api/v1/provider-key', B.owner_key, { secret: KEY_B })).status, 200);
    const upstreamAuth = async (port, key) => {
        const r = await postJson(port, '/v1/chat/completions', chatBody(), { key });
        assert.equal(r.status, 200, r.text);
        return (await mock.stats()).last_authorization;
    };
    const allWork = async (port) => {
        assert.equal(await upstreamAuth(port, A.agent), `Bearer ${KEY_A}`);
        assert.equal(await upstreamAuth(port, made.json.key), `Bearer ${KEY_A}`);
        assert.equal(await upstreamAuth(port, bAgent.json.key), `Bearer ${KEY_B}`);
        for (const k of [A.admin, B.owner_key])
            assert.equal((await api(port, 'GET', '/api/v1/provider-key', k)).status, 200);
    };
    await allWork(gw.port);

    const before = await cli(['vault', 'status', '--data', dir]);
    const oldId = before.current;
    assert.deepEqual(before.records, { [oldId]: 3 }, 'two provider keys and the pepper');

    // The new key: made 0600, never printed.
    const keyFile = path.join(data.parent, 'new.key');
    const nk = await cli(['vault', 'new-key', '--out', keyFile]);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(keyFile).size, 32);
    assert.ok(!JSON.stringify(nk).includes(keyHex(keyFile)));
    const newId = nk.master_id;
    assert.notEqual(newId, oldId);
    assert.notEqual((await run(['vault', 'new-key', '--out', keyFile])).code, 0, 'never overwrites');

    // Step 1: the serving gateway learns the next key (SIGHUP): it opens both generations and
    // seals new records under the new key.
    fs.copyFileSync(keyFile, path.join(dir, 'master.key.next'));
    fs.chmodSync(path.join(dir, 'master.key.next'), 0o600);
    gw.proc.kill('SIGHUP');
    await gw.proc.waitStderr(new RegExp(`next master key ${newId} loaded`));

    // The serving directory's ledger is the gateway's: rotation there refuses.
    const busy = await run(['vault', 'rotate-master', '--data', dir, '--new-key', keyFile]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /ledger/);

    // Step 2: rotate from a second data directory that shares the database and is not serving
    // (its own ledger records the rotation).
    const ops = path.join(data.parent, 'ops');
    await cli(['init', '--data', ops, '--master-key', path.join(dir, 'master.key')]);
    const db = path.join(dir, 'bulwark.db');
    const rotate = ['vault', 'rotate-master', '--data', ops, '--database', db, '--new-key', keyFile,
                    '--batch', '1'];
    const crash = await run(rotate, { env: { BULWARK_TEST_ROTATE_CRASH_AFTER: '1' } });
    assert.equal(crash.code, 75, `the test hook stops after one batch: ${crash.stderr}`);
    const mid = await cli(['vault', 'status', '--data', dir]);
    assert.equal(mid.sealing, newId);
    assert.equal(mid.records[oldId], 2, 'one batch of one record was done');
    assert.equal(mid.records[newId], 1);
    await allWork(gw.port); // half-rotated: both generations open

    const done = await cli(rotate);
    assert.equal(done.old_master_id, oldId);
    assert.equal(done.new_master_id, newId);
    assert.equal(done.rewrapped, 2);
    assert.equal(done.platform_rewrapped, 1, 'the pepper record');
    assert.equal(done.switched, true);
    assert.equal(keyHex(path.join(ops, 'master.key')), keyHex(keyFile));
    assert.ok(fs.existsSync(path.join(ops, 'master.key.prev')));
    assert.deepEqual((await cli(['vault', 'status', '--data', dir])).records, { [newId]: 3 });
    await allWork(gw.port); // still serving, with no restart

    // Run again: nothing left to do.
    const again = await cli(rotate);
    assert.equal(again.already, true);
    assert.equal(again.rewrapped, 0);

    // Each batch and the switch are in the ops ledger; no secret is.
    const rs = receipts(ops).map((r) => predicate(r));
    const routes = rs.map((p) => JSON.stringify(p));
    assert.ok(routes.filter((t) => t.includes('vault.rotate_master')).length >= 3, routes.join('\n'));
    assert.ok(routes.some((t) => t.includes('vault.switch_master')));
    const ledgerText = fs.readFileSync(path.join(ops, 'ledger', 'log')).toString('latin1');
    for (const k of [KEY_A, KEY_B]) assert.ok(!ledgerText.includes(k));

    // Step 3: the serving directory's key files switch while it serves; then restart.
    const sw = await cli(['vault', 'switch', '--data', dir, '--new-key', keyFile]);
    assert.equal(sw.switched, true);
    assert.equal(keyHex(path.join(dir, 'master.key')), keyHex(keyFile));
    assert.ok(!fs.existsSync(path.join(dir, 'master.key.next')));
    const prevKey = path.join(dir, 'master.key.prev');
    assert.equal(fs.statSync(prevKey).mode & 0o777, 0o600);
    await gw.proc.stop(5000);
    fs.unlinkSync(prevKey); // the operator's last step: the old key is gone
    gw = await serve(dir, configPath, env);
    await allWork(gw.port);
    const after = await cli(['vault', 'status', '--data', dir]);
    assert.equal(after.current, newId);
    assert.deepEqual(after.records, { [newId]: 3 });
    await gw.proc.stop(5000);

    // The old key alone opens nothing any more: a copy of the directory with only the old key
    // refuses to start (the pepper record does not open), and so do key commands.
    const stale = path.join(data.parent, 'stale');
    fs.cpSync(dir, stale, { recursive: true });
    fs.rmSync(path.join(stale, 'ledger', 'log.lock'), { force: true });
    fs.copyFileSync(path.join(ops, 'master.key.prev'), path.join(stale, 'master.key'));
    const refused = await run(['serve', '--data', stale, '--config', path.join(stale, 'test-config.yaml'),
                               '--listen', '127.0.0.1:0'], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /pepper.*does not hold/);
    const list = await run(['key', 'list', '--data', stale, '--org', 'default']);
    assert.equal(list.code, 1);
});

test('rotate-master refuses a key file readable by others and a mismatched next key', async () => {
    const data = await initData(scope);
    const bad = path.join(data.parent, 'bad.key');
    fs.writeFileSync(bad, crypto.randomBytes(32), { mode: 0o644 });
    fs.chmodSync(bad, 0o644);
    const r = await run(['vault', 'rotate-master', '--data', data.dir, '--new-key', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /0600/);
    const k1 = path.join(data.parent, 'k1'), k2 = path.join(data.parent, 'k2');
    await cli(['vault', 'new-key', '--out', k1]);
    await cli(['vault', 'new-key', '--out', k2]);
    fs.copyFileSync(k1, path.join(data.dir, 'master.key.next'));
    const mismatch = await run(['vault', 'rotate-master', '--data', data.dir, '--new-key', k2]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /another rotation/);
    // nothing changed: the records are still under the current key
    const st = await cli(['vault', 'status', '--data', data.dir]);
    assert.deepEqual(Object.keys(st.records), [st.current]);
});

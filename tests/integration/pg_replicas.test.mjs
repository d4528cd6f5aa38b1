// pg_replicas: two gateways share one PostgreSQL (runtime role under row-level security) and
// behave as one service: a key made by the first replica's init authenticates on the second;
// each replica keeps its own evidence log; a dead database denies (fail closed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
    REPO, Scope, run, startMock, configYaml, postJson, chatBody, assertError, assertDecision,
    receiptAt, predicate, sleep, getWithKey,
} from './lib/harness.mjs';

const scope = new Scope();
const port = String(20000 + Math.floor(Math.random() * 20000));
let pgDir, url, mock, keys, replicas, operatorKey;

function pgTest(cmd) {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), [cmd, pgDir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh ${cmd}: ${r.stderr}`);
}

async function serve(dir) {
    const cfg = path.join(dir, 'test-config.yaml');
    await fsp.writeFile(cfg, configYaml({ upstream: mock.v1, apiKeyEnv: null }) +
                             `database: "${url}"\n`);
    const proc = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                             { name: `serve ${path.basename(dir)}` });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir };
}

before(async () => {
    const parent = await scope.tmpdir('bw-it-pg-');
    // Its own temp dir: the server runs as the postgres user, which must own it.
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
    pgTest('start');
    url = `postgresql://bulwark_app@/bulwark?host=${pgDir}&port=${port}`;
    mock = await startMock(scope);
    const one = path.join(parent, 'one'), two = path.join(parent, 'two');
    const r1 = await run(['init', '--data', one, '--database', url]);
    assert.equal(r1.code, 0, r1.stderr);
    keys = JSON.parse(r1.stdout);
    const r2 = await run(['init', '--data', two, '--database', url, '--join',
                          '--master-key', path.join(one, 'master.key')]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r2.stdout)), ['public_key'], 'a joining replica creates no keys');
    const op = await run(['key', 'create', '--data', one, '--database', url, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    operatorKey = JSON.parse(op.stdout).key;
    replicas = [await serve(one), await serve(two)];
});

after(async () => {
    await scope.cleanup();
    if (pgDir) spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', pgDir], { timeout: 30000 });
});

test('a second init on a populated database is refused with a pointer to --join', async () => {
    const dir = path.join(await scope.tmpdir('bw-it-pg3-'), 'three');
    const r = await run(['init', '--data', dir, '--database', url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--join/);
});

test('a password in the database URL is refused (the config holds no secret)', async () => {
    const dir = path.join(await scope.tmpdir('bw-it-pg4-'), 'x');
    const r = await run(['init', '--data', dir, '--database', 'postgres://u:secret@h/db']);
    assert.equal(r.code, 2);
    assert.doesNotMatch(r.stderr, /secret/);
});

test('the key made through replica one authenticates on both replicas', async () => {
    const seen = new Set();
    for (const g of replicas) {
        const r = await postJson(g.port, '/v1/chat/completions', chatBody(), { key: keys.agent_key });
        assert.equal(r.status, 200, r.text);
        const index = assertDecision(r, 'allow', null);
        const id = r.headers['bulwark-receipt-id'];
        seen.add(id.split('.')[0]);
        const d = receiptAt(g.dir, index);
        assert.equal(predicate(d).org_id, keys.org_id);
    }
    assert.equal(seen.size, 2, 'each replica signs its own log with its own key');
});

test('an unknown key is refused on both replicas', async () => {
    const bogus = 'bwk_' + 'A'.repeat(43);
    for (const g of replicas) {
        const r = await postJson(g.port, '/v1/chat/completions', chatBody(), { key: bogus });
        assertError(r, 401, 'UNAUTHENTICATED');
    }
});

test('a key created through one replica\'s API authenticates on the other; its revoke reaches both', async () => {
    const [one, two] = replicas;
    const made = await postJson(one.port, '/api/v1/keys', { role: 'member', name: 'made on one' },
                                { key: keys.admin_key });
    assert.equal(made.status, 201, made.text);
    const get = (port) => getWithKey(port, '/api/v1/me', made.json.key);
    assert.equal((await get(two.port)).status, 200, 'replica two accepts a key made on one');
    const rev = await postJson(two.port, `/api/v1/keys/${made.json.id}/revoke`, {}, { key: keys.admin_key });
    assert.equal(rev.status, 200, rev.text);
    assert.equal((await get(two.port)).status, 401, 'the revoking replica rejects it at once');
    await sleep(1200); // the other replica's key cache holds verified keys for at most 1 s
    assert.equal((await get(one.port)).status, 401, 'the other replica rejects it within its cache TTL');
});

test('an operator key revoked through one replica is refused by the other within its cache TTL', async () => {
    const [one, two] = replicas;
    const made = await postJson(one.port, '/api/v1/operator/keys', { name: 'second operator' },
                                { key: operatorKey });
    assert.equal(made.status, 201, made.text);
    const get = (port) => getWithKey(port, '/api/v1/orgs', made.json.key);
    assert.equal((await get(two.port)).status, 200, 'replica two accepts an operator key made on one');
    assert.equal((await get(one.port)).status, 200);
    const rev = await postJson(two.port, `/api/v1/operator/keys/${made.json.id}/revoke`, {}, { key: operatorKey });
    assert.equal(rev.status, 200, rev.text);
    assert.equal((await get(two.port)).status, 401, 'the revoking replica rejects it at once');
    await sleep(1200);
    assert.equal((await get(one.port)).status, 401, 'the other replica rejects it within its cache TTL');
});

test('a dead database denies: nothing is forwarded', async () => {
    pgTest('stop');
    pgDir = null;
    await sleep(1100); // past the 1 s key cache
    await mock.reset();
    for (const g of replicas) {
        const r = await postJson(g.port, '/v1/chat/completions', chatBody(), { key: keys.agent_key });
        assertError(r, 503, 'STORE_UNAVAILABLE');
    }
    assert.equal((await mock.stats()).requests, 0);
});

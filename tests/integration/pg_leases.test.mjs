// pg_leases: two replicas on one PostgreSQL hold budgets and rate limits together through leases
// (docs/SPEND.md, "Several replicas"). Many parallel calls at both replicas against a budget of
// exactly N worst cases admit at most N and the usage table stays within the budget; a rate
// limit of R per minute across both admits at most R; a replica killed with SIGKILL and
// restarted does not spend its lost lease again; with PostgreSQL stopped, calls that need a new
// lease are denied (fail closed) and nothing is forwarded for them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
    REPO, Scope, run, startMock, configYaml, postJson, getWithKey, waitFor, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
const port = String(20000 + Math.floor(Math.random() * 20000));
let pgDir, url, keys, dirs, mock, replicas = [];

const BODY = JSON.stringify({
    model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello.' }],
});
const WORST = Math.ceil(Buffer.byteLength(BODY) / 4) + 100;

function pgTest(cmd) {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), [cmd, pgDir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh ${cmd}: ${r.stderr}`);
}

// One query as the owner role (it bypasses RLS): the test's view of every tenant.
function psql(sql) {
    const r = spawnSync('psql', ['-X', '-At', '-h', pgDir, '-p', port, '-U', 'bulwark_owner',
                                 '-d', 'bulwark', '-c', sql], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `psql: ${r.stderr}`);
    return r.stdout.trim();
}

async function serveOne(dir, yaml, name) {
    const cfg = path.join(dir, 'test-config.yaml');
    await fsp.writeFile(cfg, configYaml({ upstream: mock.v1, apiKeyEnv: null })
        .replace('limits:\n', `limits:\n${yaml.limits || ''}`) + `database: "${url}"\n` + (yaml.extra || ''));
    const proc = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                             { name });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir, cfg };
}

// Stops the running pair (gracefully: unused leases go back) and starts both with `yaml`.
async function startPair(yaml) {
    for (const r of replicas) await r.proc.stop(5000);
    replicas = [await serveOne(dirs[0], yaml, 'serve one'), await serveOne(dirs[1], yaml, 'serve two')];
    return replicas;
}

const call = (g, timeoutMs = 30000) =>
    postJson(g.port, '/v1/chat/completions', BODY, { key: keys.agent_key, timeoutMs });

// Fires n calls, alternating between the replicas, all at once.
async function burst(n, timeoutMs) {
    return Promise.all(Array.from({ length: n }, (_, i) => call(replicas[i % 2], timeoutMs)));
}

function monthIndex() {
    const d = new Date();
    return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

before(async () => {
    const parent = await scope.tmpdir('bw-it-leases-');
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
    pgTest('start');
    url = `postgresql://bulwark_app@/bulwark?host=${pgDir}&port=${port}`;
    // The mock answers after 800 ms, so no call settles (and frees budget) while they race.
    mock = await startMock(scope, { latencyMs: 800 });
    dirs = [path.join(parent, 'one'), path.join(parent, 'two')];
    const r1 = await run(['init', '--data', dirs[0], '--database', url]);
    assert.equal(r1.code, 0, r1.stderr);
    keys = JSON.parse(r1.stdout);
    const r2 = await run(['init', '--data', dirs[1], '--database', url, '--join',
                          '--master-key', path.join(dirs[0], 'master.key')]);
    assert.equal(r2.code, 0, r2.stderr);
});

after(async () => {
    await scope.cleanup();
    if (pgDir) spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', pgDir], { timeout: 30000 });
});

test('a budget of exactly N worst cases across two replicas: at most N admitted, never over', async (t) => {
    const N = 24;
    const budget = N * WORST;
    await startPair({ extra: `budgets:\n  default:\n    monthly_tokens: ${budget}\n` });
    await mock.reset();
    const results = await burst(160);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    for (const r of refused) {
        assert.equal(r.status, 429, r.text);
        assert.equal(r.json.error.code, 'BUDGET_EXHAUSTED');
    }
    assert.ok(ok.length <= N, `admitted ${ok.length} > ${N}: overspend across replicas`);
    // Leases strand at most a sliver below one worst case per replica and in the pool.
    assert.ok(ok.length >= N - 3, `admitted only ${ok.length} of ${N}`);
    const perReplica = [0, 1].map((i) => results.filter((r, j) => j % 2 === i && r.status === 200).length);
    // (which replica admits how many depends on timing: one may take every lease first)
    t.diagnostic(`admitted ${ok.length} of ${N} (per replica ${perReplica})`);
    assert.equal((await mock.stats()).requests, ok.length, 'exactly the admitted calls reached the upstream');

    const m = monthIndex();
    const granted = Number(psql(`SELECT coalesce(sum(granted_tokens), 0) FROM budget_pools
                                  WHERE org_id = '${keys.org_id}' AND agent = '' AND month = ${m}`));
    assert.ok(granted <= budget, `pool granted ${granted} > budget ${budget}`);
    const used = await waitFor(() => {
        const v = psql(`SELECT count(*) || ' ' || coalesce(sum(total_tokens), 0) FROM usage
                         WHERE org_id = '${keys.org_id}' AND month = ${m}`).split(' ').map(Number);
        return v[0] === ok.length ? v : null;
    }, { what: 'usage rows of every admitted call', timeoutMs: 8000 });
    assert.ok(used[1] <= budget, `usage ${used[1]} over the budget ${budget}`);

    // A graceful stop gives the unused holdings back: the pool then counts only what was spent
    // (plus nothing held), so a restarted pair can still use the remainder.
    for (const r of replicas) await r.proc.stop(5000);
    replicas = [];
    const after = Number(psql(`SELECT granted_tokens FROM budget_pools
                               WHERE org_id = '${keys.org_id}' AND agent = '' AND month = ${m}`));
    assert.equal(after, used[1], 'after a graceful stop the pool holds exactly what was spent');
    const states = psql(`SELECT DISTINCT state FROM budget_leases WHERE org_id = '${keys.org_id}'`);
    assert.equal(states, 'returned');
});

test('a rate limit of R per minute across two replicas admits at most R', async (t) => {
    const R = 12;
    const t0 = Date.now();
    await startPair({ limits: `  key_requests_per_minute: ${R}\n  key_requests_burst: ${R}\n` });
    await mock.reset();
    const results = await burst(60);
    const seconds = (Date.now() - t0) / 1000;
    const ok = results.filter((r) => r.status === 200).length;
    for (const r of results.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 429, r.text);
        assert.equal(r.json.error.code, 'RATE_LIMITED');
        assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    // The shared bucket starts full (R) and refills R per minute; leased units expire after
    // 1 s, which can only lose units, never add any (docs/SPEND.md gives the bound).
    const refill = Math.floor((R * seconds) / 60);
    t.diagnostic(`admitted ${ok} at R = ${R} in ${seconds} s`);
    assert.ok(ok <= R + refill, `admitted ${ok} > ${R} + ${refill} in ${seconds}s`);
    assert.ok(ok >= R - 2, `admitted only ${ok} of ${R}`);
    assert.equal((await mock.stats()).requests, ok);
});

test('a replica killed with SIGKILL and restarted does not spend its lost lease again', async (t) => {
    // A fresh scope: a budget for the agent "default" (init's agent key), on top of the now
    // unlimited org. Its pool starts from the agent's usage so far this month, so the budget
    // is that plus N worst cases.
    await startPair({});
    for (const r of replicas) await r.proc.stop(5000); // flushes the usage rows
    const m = monthIndex();
    const base = Number(psql(`SELECT coalesce(sum(total_tokens), 0) FROM usage
        WHERE org_id = '${keys.org_id}' AND agent = 'default' AND month = ${m}`));
    const N = 16;
    const budget = base + N * WORST;
    const yaml = { extra: `budgets:\n  default:\n    agents:\n      default: {monthly_tokens: ${budget}}\n` };
    replicas = [];
    await startPair(yaml);
    await mock.reset();
    // Replica one takes a lease (an eighth of the pool's remainder here) and uses one call.
    const first = await call(replicas[0]);
    assert.equal(first.status, 200, first.text);
    const heldBefore = Number(psql(`SELECT coalesce(sum(granted_tokens), 0) FROM budget_leases
        WHERE org_id = '${keys.org_id}' AND agent = 'default' AND month = ${m} AND state = 'open'`));
    assert.ok(heldBefore >= WORST, `replica one holds a lease: ${heldBefore}`);
    replicas[0].proc.kill('SIGKILL');
    await replicas[0].proc.waitExit(5000);
    replicas[0] = await serveOne(dirs[0], yaml, 'serve one again');
    const lost = psql(`SELECT count(*) FROM budget_leases
        WHERE org_id = '${keys.org_id}' AND agent = 'default' AND state = 'lost'`);
    assert.equal(lost, '1', 'the crashed incarnation\'s lease is marked lost at restart');

    const results = await burst(80);
    const ok = 1 + results.filter((r) => r.status === 200).length;
    for (const r of results.filter((x) => x.status !== 200))
        assert.equal(r.json.error.code, 'BUDGET_EXHAUSTED', r.text);
    // The lost lease's unused part stays counted: at most N - (lost unused) calls in total.
    const lostUnused = Math.floor((heldBefore - WORST) / WORST);
    t.diagnostic(`admitted ${ok} of ${N}; the crashed run held ${heldBefore} (${lostUnused} worst cases unused, lost)`);
    assert.ok(ok <= N - lostUnused, `admitted ${ok}: the lost lease (${heldBefore}) was spent again`);
    const granted = Number(psql(`SELECT granted_tokens FROM budget_pools
        WHERE org_id = '${keys.org_id}' AND agent = 'default' AND month = ${m}`));
    assert.ok(granted <= budget, `pool ${granted} > ${budget}`);
    assert.equal((await mock.stats()).requests, ok);
});

test('PostgreSQL stopped: calls that need a new lease are denied, nothing forwarded for them', async (t) => {
    // The org's budget gets room for 16 more worst cases, so a replica holds a few calls'
    // worth: the first call past them needs a new lease.
    const m = monthIndex();
    const granted = Number(psql(`SELECT granted_tokens FROM budget_pools
        WHERE org_id = '${keys.org_id}' AND agent = '' AND month = ${m}`));
    const room = 16 * WORST;
    await startPair({ extra: `budgets:\n  default:\n    monthly_tokens: ${granted + room}\n` });
    const warm = await call(replicas[1], 10000);
    assert.equal(warm.status, 200, warm.text);
    await sleep(300); // settled, and the prefetch landed
    const held = Number(psql(`SELECT coalesce(sum(granted_tokens), 0) FROM budget_leases
        WHERE org_id = '${keys.org_id}' AND agent = '' AND month = ${m} AND state = 'open'`));
    assert.ok(held > 0 && held <= room, `replica two holds a lease: ${held}`);
    await mock.reset();

    // First the lease tables fail while keys still authenticate (what a database that dies
    // within the key cache's second looks like to admission): calls within the holding pass,
    // the first that needs a lease is denied with LIMITS_UNAVAILABLE.
    psql('REVOKE ALL ON budget_pools, budget_leases, rate_buckets FROM bulwark_app');
    // in parallel: the mock answers after 800 ms, so every admitted call holds its worst case
    const results = await Promise.all(Array.from({ length: 8 }, () => call(replicas[1], 10000)));
    const ok = results.filter((r) => r.status === 200).length;
    for (const r of results.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json.error.code, 'LIMITS_UNAVAILABLE', r.text);
    }
    assert.ok(ok < 8, 'calls past the held lease are denied');
    assert.ok(ok * WORST <= held, `admitted ${ok} without a lease, holding ${held}`);
    assert.equal((await mock.stats()).requests, ok, 'nothing forwarded for a denied call');
    t.diagnostic(`lease store failing: ${ok} admitted from the holding (${held}), then ` +
                 results.filter((r) => r.status === 503).map((r) => r.json.error.code).join(','));

    // Then the whole database: every call is denied (the key cache has expired, or the lease
    // cannot be taken), nothing forwarded.
    pgTest('stop');
    pgDir = null;
    for (const g of replicas) {
        const r = await call(g, 10000);
        assert.equal(r.status, 503, r.text);
        assert.ok(['LIMITS_UNAVAILABLE', 'STORE_UNAVAILABLE'].includes(r.json.error.code), r.text);
    }
    assert.equal((await mock.stats()).requests, ok);
});

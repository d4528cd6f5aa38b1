// api_store_jobs: a management API request whose store work is slow does not stall the calls on
// its event worker (src/api/api_job.c: every /api/v1/ handler and /metrics runs on a store
// thread, never on the worker). The gateway runs ONE worker on PostgreSQL; a trigger makes every
// update of an operator key's last use (which each operator API request makes) sleep, so an
// operator API request holds its store connection for seconds while chat completions, whose key
// is cached on the worker, keep flowing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
    REPO, Scope, run, startMock, configYaml, postJson, chatBody, getWithKey, request,
} from './lib/harness.mjs';

const SLOW_S = 3;
const scope = new Scope();
const port = String(20000 + Math.floor(Math.random() * 20000));
let pgDir, url, mock, keys, operatorKey, gw;

function pgTest(cmd) {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), [cmd, pgDir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port },
                          timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh ${cmd}: ${r.stderr}`);
}

// As the owner role (it owns the tables, so it may add a trigger).
function psql(sql) {
    const r = spawnSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', pgDir, '-p', port,
                                 '-U', 'bulwark_owner', '-d', 'bulwark', '-c', sql],
                        { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `psql: ${r.stderr}`);
    return r.stdout.trim();
}

before(async () => {
    const dir = path.join(await scope.tmpdir('bw-it-apijobs-'), 'gw');
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
    pgTest('start');
    url = `postgresql://bulwark_app@/bulwark?host=${pgDir}&port=${port}`;
    mock = await startMock(scope);
    const r = await run(['init', '--data', dir, '--database', url]);
    assert.equal(r.code, 0, r.stderr);
    keys = JSON.parse(r.stdout);
    const op = await run(['key', 'create', '--data', dir, '--database', url, '--operator',
                          '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    operatorKey = JSON.parse(op.stdout).key;
    const cfg = path.join(dir, 'test-config.yaml');
    await fsp.writeFile(cfg, configYaml({ upstream: mock.v1, apiKeyEnv: null, workers: 1 }) +
                             `database: "${url}"\n`);
    const proc = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                             { name: 'serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    gw = { proc, port: Number(m[1]) };
});

after(async () => {
    await scope.cleanup();
    if (pgDir)
        spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', pgDir], { timeout: 30000 });
});

async function chat() {
    const t0 = Date.now();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: keys.agent_key });
    return { status: r.status, ms: Date.now() - t0, text: r.text };
}

test('a slow management API request does not stall chat completions on the same worker',
     async () => {
    // The agent key is now in the worker's key cache: a chat call reads nothing from the store.
    const warm = await chat();
    assert.equal(warm.status, 200, warm.text);
    const fast = await getWithKey(gw.port, '/api/v1/operator/keys', operatorKey);
    assert.equal(fast.status, 200, fast.text);

    psql(`CREATE FUNCTION bw_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM pg_sleep(${SLOW_S}); RETURN NEW; END $$;
          CREATE TRIGGER bw_test_slow BEFORE UPDATE ON operator_keys
          FOR EACH ROW EXECUTE FUNCTION bw_test_slow();`);
    try {
        const t0 = Date.now();
        const slow = getWithKey(gw.port, '/api/v1/operator/keys', operatorKey);
        await new Promise((res) => setTimeout(res, 300)); // the API request is in its store wait
        const calls = [];
        for (let i = 0; i < 5; i++) calls.push(await chat());
        const apiAnswer = await slow;
        const apiMs = Date.now() - t0;
        assert.equal(apiAnswer.status, 200, apiAnswer.text);
        assert.ok(apiMs >= (SLOW_S - 0.5) * 1000, `the API request was slow (${apiMs} ms)`);
        for (const c of calls) {
            assert.equal(c.status, 200, c.text);
            // Under the slow query a call on a blocked worker would wait seconds; here each one
            // is answered while the API request still waits on the store.
            assert.ok(c.ms < 1500, `a chat call took ${c.ms} ms while the API request waited`);
        }
        const chatTotal = calls.reduce((a, c) => a + c.ms, 0);
        assert.ok(300 + chatTotal < apiMs, `the calls (${chatTotal} ms) finished before the API ` +
                                           `answer (${apiMs} ms)`);
    } finally {
        psql('DROP TRIGGER bw_test_slow ON operator_keys; DROP FUNCTION bw_test_slow();');
    }
});

test('/metrics waits on a store thread too: chat calls flow meanwhile', async () => {
    psql(`CREATE FUNCTION bw_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM pg_sleep(${SLOW_S}); RETURN NEW; END $$;
          CREATE TRIGGER bw_test_slow BEFORE UPDATE ON operator_keys
          FOR EACH ROW EXECUTE FUNCTION bw_test_slow();`);
    try {
        const t0 = Date.now();
        const slow = getWithKey(gw.port, '/metrics', operatorKey);
        await new Promise((res) => setTimeout(res, 300));
        const c = await chat();
        const chatDoneMs = Date.now() - t0;
        const m = await slow;
        const apiMs = Date.now() - t0;
        assert.equal(m.status, 200, m.text);
        assert.match(m.text, /^# (HELP|TYPE) /m);
        assert.equal(c.status, 200, c.text);
        assert.ok(chatDoneMs < apiMs && c.ms < 1500,
                  `chat ${c.ms} ms (done at ${chatDoneMs}), /metrics at ${apiMs} ms`);
    } finally {
        psql('DROP TRIGGER bw_test_slow ON operator_keys; DROP FUNCTION bw_test_slow();');
    }
});

test('API requests the store threads cannot take in time are refused 503, never left hanging',
     async () => {
    // Each request holds a store thread for SLOW_S seconds; with the default pool (4 store
    // threads, src/jobs/jobs.h) two rounds start within the API's queue deadline (5 s) and the
    // requests still queued after it are refused.
    psql(`CREATE FUNCTION bw_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM pg_sleep(${SLOW_S}); RETURN NEW; END $$;
          CREATE TRIGGER bw_test_slow BEFORE UPDATE ON operator_keys
          FOR EACH ROW EXECUTE FUNCTION bw_test_slow();`);
    try {
        const all = [];
        for (let i = 0; i < 20; i++)
            all.push(request(gw.port, { path: '/api/v1/operator/keys', timeoutMs: 60000,
                                        headers: { authorization: `Bearer ${operatorKey}` } }));
        const answers = await Promise.all(all);
        const codes = answers.map((a) => a.status);
        assert.ok(codes.every((s) => s === 200 || s === 503), codes.join(','));
        assert.ok(codes.includes(200), codes.join(','));
        const refused = answers.filter((a) => a.status === 503);
        assert.ok(refused.length > 0, `some requests were refused: ${codes.join(',')}`);
        for (const a of refused) {
            assert.equal(a.json?.error?.code, 'STORE_UNAVAILABLE', a.text);
            assert.ok(a.headers['retry-after'], 'a refusal says when to retry');
        }
    } finally {
        psql('DROP TRIGGER bw_test_slow ON operator_keys; DROP FUNCTION bw_test_slow();');
    }
});

test('a flood of API requests is capped: the excess is refused at once, chat calls still flow',
     async () => {
    // At most 64 API jobs are queued or running gateway-wide (src/api/api_job.c), so management
    // requests (queued before their key is checked) cannot fill the store queue the call path
    // shares. Beyond the cap the answer is an immediate 503.
    psql(`CREATE FUNCTION bw_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM pg_sleep(${SLOW_S}); RETURN NEW; END $$;
          CREATE TRIGGER bw_test_slow BEFORE UPDATE ON operator_keys
          FOR EACH ROW EXECUTE FUNCTION bw_test_slow();`);
    try {
        const all = [];
        for (let i = 0; i < 90; i++) {
            const t0 = Date.now();
            all.push(request(gw.port, { path: '/api/v1/operator/keys', timeoutMs: 60000,
                                        headers: { authorization: `Bearer ${operatorKey}` } })
                .then((r) => ({ ...r, ms: Date.now() - t0 })));
        }
        await new Promise((res) => setTimeout(res, 500));
        const c = await chat();
        assert.equal(c.status, 200, c.text);
        assert.ok(c.ms < 1500, `a chat call took ${c.ms} ms during the flood`);
        const answers = await Promise.all(all);
        const fast503 = answers.filter((a) => a.status === 503 && a.ms < SLOW_S * 1000);
        assert.ok(fast503.length >= 90 - 64,
                  `${fast503.length} refused at once: ${answers.map((a) => a.status).join(',')}`);
        for (const a of fast503) assert.equal(a.json?.error?.code, 'STORE_UNAVAILABLE', a.text);
    } finally {
        psql('DROP TRIGGER bw_test_slow ON operator_keys; DROP FUNCTION bw_test_slow();');
    }
});

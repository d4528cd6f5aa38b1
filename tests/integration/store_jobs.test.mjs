// store_jobs: the request path's store reads run as store jobs (src/jobs/, src/proxy/call_jobs.c),
// never on the event worker (docs/INTERNALS.md "The call"). With ONE event worker and a key
// lookup that PostgreSQL makes slow on purpose (the test wraps bulwark_key_lookup so the admin
// key's lookup sleeps), a call whose key misses the cache waits in its identify step while the
// same worker keeps answering everything else: /healthz and calls with another key at once.
// A lookup slower than the call's store deadline denies with 503 STORE_UNAVAILABLE instead of
// hanging, and a client that goes away while its lookup runs leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
    REPO, Scope, run, startMock, configYaml, postJson, request, chatBody, sleep,
} from './lib/harness.mjs';

const scope = new Scope();
const port = String(20000 + Math.floor(Math.random() * 20000));
let pgDir, url, keys, dir, mock, gw;

function pgTest(cmd) {
    const r = spawnSync(path.join(REPO, 'scripts/pg-test.sh'), [cmd, pgDir],
                        { encoding: 'utf8', env: { ...process.env, PGTEST_PORT: port }, timeout: 60000 });
    assert.equal(r.status, 0, `pg-test.sh ${cmd}: ${r.stderr}`);
}

function psql(sql) {
    const r = spawnSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', pgDir, '-p', port,
                                 '-U', 'bulwark_owner', '-d', 'bulwark', '-c', sql],
                        { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `psql: ${r.stderr}`);
    return r.stdout.trim();
}

// The admin key's lookup sleeps `seconds` (the agent key's does not): a slow store for one call.
function slowAdminLookup(seconds) {
    psql(`CREATE OR REPLACE FUNCTION public.bulwark_key_lookup(key_hash bytea)
          RETURNS TABLE (id text, org_id text, org_name text, role text, agent text, hash bytea,
                         created_ms bigint, expires_ms bigint, revoked_ms bigint, name text,
                         member_id text)
          LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $f$
          BEGIN
              RETURN QUERY SELECT * FROM public.bulwark_key_lookup_real(key_hash);
              IF EXISTS (SELECT 1 FROM public.api_keys k
                          WHERE k.hash = key_hash AND k.role <> 'agent') THEN
                  PERFORM pg_sleep(${seconds});
              END IF;
          END $f$`);
}

before(async () => {
    const parent = await scope.tmpdir('bw-it-storejobs-');
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pgtest-'));
    pgTest('start');
    url = `postgresql://bulwark_app@/bulwark?host=${pgDir}&port=${port}`;
    mock = await startMock(scope);
    dir = path.join(parent, 'data');
    const r = await run(['init', '--data', dir, '--database', url]);
    assert.equal(r.code, 0, r.stderr);
    keys = JSON.parse(r.stdout);
    psql('ALTER FUNCTION public.bulwark_key_lookup(bytea) RENAME TO bulwark_key_lookup_real');
    slowAdminLookup(3);
    psql('GRANT EXECUTE ON FUNCTION public.bulwark_key_lookup(bytea) TO bulwark_app');
    const cfg = path.join(dir, 'test-config.yaml');
    await fsp.writeFile(cfg, configYaml({ upstream: mock.v1, apiKeyEnv: null, workers: 1 }) +
                        `database: "${url}"\n`);
    const proc = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0',
                              '--workers', '1'], { name: 'serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    gw = { proc, port: Number(m[1]) };
});

after(async () => {
    await scope.cleanup();
    if (pgDir) spawnSync(path.join(REPO, 'scripts/pg-test.sh'), ['stop', pgDir], { timeout: 30000 });
});

const chat = (key, o = {}) => postJson(gw.port, '/v1/chat/completions', chatBody(), { key, ...o });

test('a slow key lookup does not stall the worker: other calls on it are answered at once', async () => {
    slowAdminLookup(3);
    await sleep(1100); // the admin key's cache entry (1 s) is gone
    const warm = await chat(keys.agent_key);
    assert.equal(warm.status, 200, warm.text);
    const t0 = Date.now();
    const slow = chat(keys.admin_key, { timeoutMs: 30000 }).then((r) => ({ r, ms: Date.now() - t0 }));
    await sleep(300); // the admin call is waiting on its lookup now
    const fast = [];
    for (let i = 0; i < 5; i++) {
        const s = Date.now();
        const h = await request(gw.port, { path: '/healthz', timeoutMs: 5000 });
        assert.equal(h.status, 200);
        const c = await chat(keys.agent_key, { timeoutMs: 5000 });
        assert.equal(c.status, 200, c.text);
        fast.push(Date.now() - s);
    }
    const { r, ms } = await slow;
    // The slow call itself is answered (not refused: 3 s is within the store deadline).
    assert.notEqual(r.status, 503, r.text);
    assert.ok(ms >= 2500, `the slow lookup answered in ${ms} ms: it was not slow`);
    // Every fast pair finished long before the slow lookup did.
    for (const f of fast)
        assert.ok(f < 1500, `a call on the same worker took ${f} ms while a lookup was slow (${fast})`);
});

test('a lookup past the store deadline is refused with 503 STORE_UNAVAILABLE, never hangs', async () => {
    slowAdminLookup(8);
    await sleep(1100); // the admin key's cache entry (1 s) is gone
    const t0 = Date.now();
    const r = await chat(keys.admin_key, { timeoutMs: 30000 });
    const ms = Date.now() - t0;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'STORE_UNAVAILABLE');
    assert.ok(ms < 7500, `refused after ${ms} ms`);
    // The worker is fine, and so is the gateway once the late job completes.
    const c = await chat(keys.agent_key, { timeoutMs: 5000 });
    assert.equal(c.status, 200, c.text);
    await sleep(4000);
    const h = await request(gw.port, { path: '/healthz', timeoutMs: 5000 });
    assert.equal(h.status, 200);
    slowAdminLookup(0);
});

test('a client that goes away while its lookup runs leaves the gateway healthy', async () => {
    slowAdminLookup(2);
    await sleep(1100); // the admin key's cache entry (1 s) is gone
    const gone = await chat(keys.admin_key, { timeoutMs: 300 }).catch((e) => e);
    assert.ok(gone instanceof Error || gone.status === undefined || gone.status >= 0);
    await sleep(2500); // the job completes for a call whose client is gone
    const c = await chat(keys.agent_key, { timeoutMs: 5000 });
    assert.equal(c.status, 200, c.text);
    assert.equal((await request(gw.port, { path: '/healthz', timeoutMs: 5000 })).status, 200);
    slowAdminLookup(0);
});

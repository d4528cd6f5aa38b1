// metrics: GET /metrics (docs/API.md "Metrics") read by the Prometheus project's own text-format
// parser. Access: no key 401, an org admin or agent 403, the operator 200; the separate
// listener (metrics.listen) serves it without a key, only on loopback unless allowed. Counters
// move with traffic (allowed, denied, rate-limited, upstream error, egress block, ledger);
// histograms are cumulative and consistent; 500 distinct client model names add no series; no
// key, upstream key or prompt ever appears in the output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, initData, configYaml, run, request, postJson, chatBody, waitFor, sleep } from './lib/harness.mjs';
import { parsePrometheus, sampleValue } from './lib/prometheus.mjs';
import { startUpstream, startObservedGateway } from './lib/observe.mjs';
import { startTenants } from './lib/tenants.mjs';
import { spawnSync } from 'node:child_process';

const scope = new Scope();
const UPSTREAM_KEY = `sk-upstream-canary-${crypto.randomBytes(8).toString('hex')}`;
const PROMPT_CANARY = `prompt-canary-${crypto.randomBytes(8).toString('hex')}`;

async function startGw(o) {
    return startObservedGateway(scope, { ...o, env: { BULWARK_UPSTREAM_KEY: UPSTREAM_KEY } });
}

const scrape = (port, key, p = '/metrics') =>
    request(port, { path: p, headers: key ? { authorization: `Bearer ${key}` } : {} });

async function metrics(gw) {
    const r = await scrape(gw.port, gw.opKey);
    assert.equal(r.status, 200, r.text);
    return { text: r.text, fam: parsePrometheus(r.text), headers: r.headers };
}

let up, gw, metricsPort;
before(async () => {
    up = await startUpstream();
    gw = await startGw({ upstream: up.v1,
                         yaml: 'metrics:\n  listen: 127.0.0.1:0\n  refresh_ms: 500\n' });
    metricsPort = Number((await gw.proc.waitStderr(/metrics listening on 127\.0\.0\.1:(\d+)/))[1]);
});
after(async () => { up?.close(); await scope.cleanup(); });

test('access: no key 401, org admin and agent 403, operator 200 in text format 0.0.4', async () => {
    assert.equal((await scrape(gw.port)).status, 401);
    assert.equal((await scrape(gw.port, 'bwk_not_a_real_key')).status, 401);
    assert.equal((await scrape(gw.port, gw.keys.admin_key)).status, 403);
    assert.equal((await scrape(gw.port, gw.keys.agent_key)).status, 403);
    const r = await scrape(gw.port, gw.opKey);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal((await request(gw.port, { method: 'POST', path: '/metrics',
        headers: { authorization: `Bearer ${gw.opKey}` }, body: '' })).status, 405);
    const fam = parsePrometheus(r.text);
    const types = Object.fromEntries(fam.map((f) => [f.name, f.type]));
    assert.equal(types.bulwark_requests, 'counter');
    assert.equal(types.bulwark_request_duration_seconds, 'histogram');
    assert.equal(types.bulwark_gateway_added_seconds, 'histogram');
    assert.equal(types.bulwark_ledger_append_seconds, 'histogram');
    assert.equal(types.bulwark_ledger_batch_size, 'histogram');
    assert.equal(types.bulwark_egress_blocks, 'counter');
    assert.equal(types.bulwark_outbox_attempts, 'counter');
    assert.equal(types.bulwark_limit_refusals, 'counter');
    assert.equal(types.bulwark_upstream_errors, 'counter');
});

test('the separate listener serves /metrics without a key, and nothing else', async () => {
    const r = await request(metricsPort, { path: '/metrics' });
    assert.equal(r.status, 200);
    parsePrometheus(r.text);
    assert.equal((await request(metricsPort, { path: '/v1/models',
        headers: { authorization: `Bearer ${gw.keys.agent_key}` } })).status, 404);
    assert.equal((await request(metricsPort, { path: '/api/v1/orgs' })).status, 404);
    // the store-backed gauges appear once the background refresher has read the store
    await waitFor(async () => (await request(metricsPort, { path: '/metrics' }))
        .text.includes('bulwark_review_items_pending 0'), { what: 'gauges refreshed' });
    const fam = parsePrometheus((await request(metricsPort, { path: '/metrics' })).text);
    assert.equal(sampleValue(fam, 'bulwark_gauges_ok'), 1);
    assert.equal(sampleValue(fam, 'bulwark_outbox_queue_depth'), 0);
});

test('the readiness self-probes of the egress guard are not counted as egress blocks', async () => {
    // security readiness probes a metadata and a loopback URL on every refresh (every 2 s);
    // counting them made bulwark_egress_blocks_total move with no traffic at all
    const before = sampleValue((await metrics(gw)).fam, 'bulwark_egress_blocks_total', { stage: 'url' });
    await sleep(4500);
    const after = sampleValue((await metrics(gw)).fam, 'bulwark_egress_blocks_total', { stage: 'url' });
    assert.equal(after, before);
});

test('counters move with traffic: allowed, denied, upstream error, egress block, ledger', async () => {
    const before = (await metrics(gw)).fam;
    const agent = gw.keys.agent_key;
    const ok = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', PROMPT_CANARY), { key: agent });
    assert.equal(ok.status, 200, ok.text);
    const denied = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-3-not-allowed'), { key: agent });
    assert.equal(denied.status, 403, denied.text);
    const broke = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o'), { key: agent });
    assert.equal(broke.status, 500, broke.text);
    const unauth = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: 'bwk_nope' });
    assert.equal(unauth.status, 401);
    const blocked = await request(gw.port, { method: 'POST', path: '/api/v1/connections',
        headers: { authorization: `Bearer ${gw.keys.admin_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'webhook', name: 'private', url: 'http://10.0.0.1/hook',
                               secret: `whsec_${crypto.randomBytes(32).toString('base64')}` }) });
    assert.equal(blocked.status, 422, blocked.text);
    assert.equal(blocked.json.error.code, 'EGRESS_BLOCKED');

    const after = (await metrics(gw)).fam;
    const d = (name, labels) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    assert.equal(d('bulwark_requests_total', { route: 'chat', decision: 'allow', status: '200' }), 1);
    assert.equal(d('bulwark_requests_total', { route: 'chat', decision: 'deny', status: '403' }), 1);
    assert.equal(d('bulwark_requests_total', { route: 'chat', decision: 'allow', status: '500' }), 1);
    assert.equal(d('bulwark_requests_total', { route: 'chat', decision: 'none', status: '401' }), 1);
    assert.equal(d('bulwark_refusals_total', { route: 'chat', reason: 'MODEL_NOT_ALLOWED' }), 1);
    assert.equal(d('bulwark_refusals_total', { route: 'chat', reason: 'UNAUTHENTICATED' }), 1);
    assert.equal(d('bulwark_upstream_errors_total', { route: 'chat', kind: 'status_5xx' }), 1);
    assert.equal(d('bulwark_egress_blocks_total', { stage: 'url' }), 1);
    assert.equal(d('bulwark_request_duration_seconds_count', { route: 'chat' }), 4);
    assert.equal(d('bulwark_gateway_added_seconds_count', { route: 'chat' }), 4);
    // decision receipts (3) and outcome receipts (2) went through the ledger
    assert.ok(d('bulwark_ledger_append_seconds_count') >= 5, 'ledger appends counted');
    assert.ok(d('bulwark_ledger_batch_size_sum') >= 5, 'batch sizes count receipts');
    assert.ok(d('bulwark_ledger_batches_total', { result: 'committed' }) >= 1);
});

test('every HTTP request is counted by its routing-table route and code, never the client path', async () => {
    const before = (await metrics(gw)).fam;
    const admin = { authorization: `Bearer ${gw.keys.admin_key}` };
    assert.equal((await request(gw.port, { method: 'GET', path: '/api/v1/keys', headers: admin })).status, 200);
    assert.equal((await request(gw.port, { method: 'GET', path: '/api/v1/keys' })).status, 401);
    assert.equal((await request(gw.port, { method: 'GET', path: '/healthz' })).status, 200);
    for (let i = 0; i < 50; i++) // 50 distinct unknown paths: one series, "unknown"
        assert.equal((await request(gw.port, { method: 'GET', path: `/nope-${i}-${crypto.randomBytes(4).toString('hex')}` })).status, 404);
    const after = await metrics(gw);
    const d = (labels) => sampleValue(after.fam, 'bulwark_http_requests_total', labels) -
        sampleValue(before, 'bulwark_http_requests_total', labels);
    assert.equal(d({ route: '/api/v1/keys', code: '200' }), 1);
    assert.equal(d({ route: '/api/v1/keys', code: '401' }), 1);
    assert.equal(d({ route: 'healthz', code: '200' }), 1);
    assert.equal(d({ route: 'unknown', code: '404' }), 50);
    assert.ok(!after.text.includes('/nope-'), 'no client path becomes a label');
});

test('histograms are cumulative: buckets monotone, +Inf == _count, le ascending', async () => {
    const { fam } = await metrics(gw);
    let checked = 0;
    for (const f of fam.filter((x) => x.type === 'histogram')) {
        const series = new Map();
        for (const s of f.samples) {
            const { le, ...rest } = s.labels;
            const k = JSON.stringify(rest);
            if (!series.has(k)) series.set(k, { buckets: [], count: undefined });
            const e = series.get(k);
            if (s.name.endsWith('_bucket')) e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
            else if (s.name.endsWith('_count')) e.count = s.value;
        }
        for (const [k, e] of series) {
            assert.ok(e.buckets.length > 1, `${f.name}${k}: buckets`);
            for (let i = 1; i < e.buckets.length; i++) {
                assert.ok(e.buckets[i][0] > e.buckets[i - 1][0], `${f.name}${k}: le ascending`);
                assert.ok(e.buckets[i][1] >= e.buckets[i - 1][1], `${f.name}${k}: cumulative`);
            }
            const inf = e.buckets[e.buckets.length - 1];
            assert.equal(inf[0], Infinity, `${f.name}${k}: ends with +Inf`);
            assert.equal(inf[1], e.count, `${f.name}${k}: +Inf == _count`);
            checked++;
        }
    }
    assert.ok(checked >= 10, `only ${checked} histogram series`);
});

test('500 distinct client model names add no series; none appears in the output', async () => {
    const agent = gw.keys.agent_key;
    const tag = crypto.randomBytes(4).toString('hex');
    const send = (i) => postJson(gw.port, '/v1/chat/completions', chatBody(`model-${tag}-${i}`), { key: agent });
    assert.equal((await send('first')).status, 403);
    const seriesBefore = (await metrics(gw)).fam.reduce((n, f) => n + f.samples.length, 0);
    for (let i = 0; i < 500; i += 25)
        await Promise.all(Array.from({ length: 25 }, (_, j) => send(i + j)));
    const { text, fam } = await metrics(gw);
    const seriesAfter = fam.reduce((n, f) => n + f.samples.length, 0);
    assert.equal(seriesAfter, seriesBefore, 'a client-chosen value became a label');
    assert.ok(!text.includes(tag), 'a client model name reached /metrics');
});

test('no key, upstream key or prompt in the output', async () => {
    const { text } = await metrics(gw);
    const listener = (await request(metricsPort, { path: '/metrics' })).text;
    for (const out of [text, listener]) {
        for (const secret of [UPSTREAM_KEY, gw.opKey, gw.keys.admin_key, gw.keys.agent_key, PROMPT_CANARY])
            assert.ok(!out.includes(secret) && !out.includes(secret.slice(4, 24)), 'a secret in /metrics');
        assert.ok(!out.includes(gw.dir), 'a filesystem path in /metrics');
    }
});

test('rate-limit and budget refusals are counted by limit', async () => {
    const g = await startGw({ upstream: up.v1, limits: '  key_requests_per_minute: 1\n  key_requests_burst: 1\n' });
    const agent = g.keys.agent_key;
    assert.equal((await postJson(g.port, '/v1/chat/completions', chatBody(), { key: agent })).status, 200);
    const limited = await postJson(g.port, '/v1/chat/completions', chatBody(), { key: agent });
    assert.equal(limited.status, 429, limited.text);
    const { fam } = await metrics(g);
    assert.equal(sampleValue(fam, 'bulwark_limit_refusals_total', { limit: 'rate' }), 1);
    assert.equal(sampleValue(fam, 'bulwark_refusals_total', { route: 'chat', reason: 'RATE_LIMITED' }), 1);
    assert.equal(sampleValue(fam, 'bulwark_requests_total', { route: 'chat', status: '429' }), 1);
    await g.proc.stop(3000);
});

test('an upstream timeout is counted as such; the gateway-added time excludes the wait', async () => {
    const g = await startGw({ upstream: up.v1,
                             config: { timeoutMs: 700, orgs: { default: ['gpt-4o-mini', 'hang'] } } });
    const r = await postJson(g.port, '/v1/chat/completions', chatBody('hang'), { key: g.keys.agent_key });
    assert.equal(r.status, 504, r.text);
    const { fam } = await metrics(g);
    assert.equal(sampleValue(fam, 'bulwark_upstream_errors_total', { route: 'chat', kind: 'timeout' }), 1);
    assert.equal(sampleValue(fam, 'bulwark_refusals_total', { route: 'chat', reason: 'UPSTREAM_TIMEOUT' }), 1);
    assert.ok(sampleValue(fam, 'bulwark_request_duration_seconds_sum', { route: 'chat' }) >= 0.6);
    assert.ok(sampleValue(fam, 'bulwark_gateway_added_seconds_sum', { route: 'chat' }) < 0.5,
              'the upstream wait was counted as gateway time');
    await g.proc.stop(3000);
});

test('a non-loopback metrics listener is refused unless allowed', async () => {
    const data = await initData(scope);
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({}) + 'metrics:\n  listen: 0.0.0.0:0\n');
    const r = await run(['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                        { env: { BULWARK_UPSTREAM_KEY: 'sk-x' }, timeoutMs: 15000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not loopback/);
    await fsp.writeFile(configPath, configYaml({}) + 'metrics:\n  listen: 127.0.0.1:0\n  colour: red\n');
    const bad = await run(['serve', '--data', data.dir, '--config', configPath], { env: { BULWARK_UPSTREAM_KEY: 'sk-x' } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /metrics: unknown key 'colour'/);
});

// The refresher reads every org under row-level security (each read tenant-scoped, the org list
// through the definer function): on PostgreSQL its gauges come up too.
const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;
test('store-backed gauges on PostgreSQL', { skip: !pgAvailable() && 'PostgreSQL server binaries missing' },
     async () => {
    const w = await startTenants(scope, 'pg', {
        yaml: 'metrics:\n  listen: 127.0.0.1:0\n  refresh_ms: 500\n' });
    try {
        const port = Number((await w.proc.waitStderr(/metrics listening on 127\.0\.0\.1:(\d+)/))[1]);
        const read = async () => parsePrometheus((await request(port, { path: '/metrics' })).text);
        await waitFor(async () => sampleValue(await read(), 'bulwark_gauges_ok') === 1,
                      { timeoutMs: 10000, what: 'gauges read on PostgreSQL' });
        const fam = await read();
        assert.equal(sampleValue(fam, 'bulwark_review_items_pending'), 0);
        assert.equal(sampleValue(fam, 'bulwark_outbox_queue_depth'), 0);
    } finally {
        await w.stop();
    }
});

test('outbox: failed and dead attempts counted, queue depth and dead gauges follow', async () => {
    const { startReceiver, connectionsYaml } = await import('./lib/receiver.mjs');
    const { api } = await import('./lib/tenants.mjs');
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const rx = await startReceiver({ secret });
    const outbox = 'outbox:\n  backoff_base_ms: 300\n  backoff_max_ms: 300\n  poll_ms: 100\n  max_attempts: 3';
    const w = await startTenants(scope, 'sqlite', {
        yaml: connectionsYaml(rx, outbox) + 'metrics:\n  listen: 127.0.0.1:0\n  refresh_ms: 500\n' });
    try {
        const port = Number((await w.proc.waitStderr(/metrics listening on 127\.0\.0\.1:(\d+)/))[1]);
        const read = async () => parsePrometheus((await request(port, { path: '/metrics' })).text);
        const c = await api(w.port, 'POST', '/api/v1/connections', w.A.admin,
                            { kind: 'webhook', name: 'ops', url: rx.url('/hook'), secret });
        assert.equal(c.status, 201, c.text);
        rx.failWith(503);
        assert.equal((await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'b1' })).status, 201);
        // while it retries, the event is in the queue
        await waitFor(async () => {
            const f = await read();
            return sampleValue(f, 'bulwark_outbox_attempts_total', { result: 'failed' }) >= 1 &&
                   sampleValue(f, 'bulwark_outbox_queue_depth') >= 1;
        }, { timeoutMs: 10000, what: 'a failed attempt and a queued event' });
        await waitFor(async () => {
            const f = await read();
            return sampleValue(f, 'bulwark_outbox_attempts_total', { result: 'dead' }) === 1 &&
                   sampleValue(f, 'bulwark_outbox_dead') === 1 && sampleValue(f, 'bulwark_outbox_queue_depth') === 0;
        }, { timeoutMs: 15000, what: 'the event dead after max_attempts' });
        rx.failWith(0);
        assert.equal((await api(w.port, 'POST', '/api/v1/keys', w.A.admin, { role: 'agent', name: 'b2' })).status, 201);
        await waitFor(async () => sampleValue(await read(), 'bulwark_outbox_attempts_total',
                                              { result: 'delivered' }) >= 1,
                      { timeoutMs: 10000, what: 'a delivery counted' });
        assert.equal(sampleValue(await read(), 'bulwark_outbox_attempts_total', { result: 'failed' }), 2);
    } finally {
        await w.stop();
        await rx.close();
    }
});

// A tenant admin writes its own reason codes in its org policy: they are counted under one
// label, ORG_POLICY, so no tenant can fill the reason table and hide the platform's codes.
test('an org policy\'s own reason codes are one label', async () => {
    const w = await startTenants(scope, 'sqlite', { yaml: 'metrics:\n  listen: 127.0.0.1:0\n' });
    try {
        const port = Number((await w.proc.waitStderr(/metrics listening on 127\.0\.0\.1:(\d+)/))[1]);
        const code = `ACME_${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
        const put = await request(w.port, { method: 'PUT', path: '/api/v1/policies',
            headers: { authorization: `Bearer ${w.A.admin}`, 'content-type': 'application/yaml' },
            body: `version: 1\nrules:\n  - id: no-mini\n    match: {route: chat, model: gpt-4o-mini}\n` +
                  `    effect: deny\n    reason: ${code}\n` });
        assert.ok(put.status < 300, put.text);
        const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, code);
        const text = (await request(port, { path: '/metrics' })).text;
        assert.ok(!text.includes(code), 'a tenant-chosen reason code became a label');
        assert.equal(sampleValue(parsePrometheus(text), 'bulwark_refusals_total',
                                 { route: 'chat', reason: 'ORG_POLICY' }), 1);
    } finally {
        await w.stop();
    }
});

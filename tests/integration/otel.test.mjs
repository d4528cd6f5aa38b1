// otel: OTLP/HTTP trace export (docs/CONFIG.md "otel"). A local collector (a node http server on
// 127.0.0.1, allowed by egress.allow) gets one span per call with the GenAI semantic convention
// attributes and the call's receipt id; a client's valid W3C traceparent is continued, an
// invalid one is not; no prompt or key is ever in a span. A collector that hangs or is gone
// never slows or fails a call: spans are dropped and counted, and the queue bound holds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { Scope, postJson, chatBody, waitFor } from './lib/harness.mjs';
import { sampleValue } from './lib/prometheus.mjs';
import { startUpstream, startObservedGateway, scrapeMetrics } from './lib/observe.mjs';

const scope = new Scope();
const PROMPT_CANARY = `prompt-canary-${crypto.randomBytes(8).toString('hex')}`;
const servers = [];
after(async () => { for (const s of servers) s.closeAllConnections?.(), s.close(); await scope.cleanup(); });

// mode: 'ok' (200 and keep every body), 'hang' (read the request, never answer)
async function startCollector(mode = 'ok') {
    const got = { bodies: [], hits: 0 };
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => {
            got.hits++;
            if (mode === 'hang') return;
            got.bodies.push({ url: req.url, type: req.headers['content-type'], headers: req.headers,
                              json: JSON.parse(body), raw: body });
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{}');
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    got.port = server.address().port;
    got.url = `http://127.0.0.1:${got.port}/v1/traces`;
    got.spans = () => got.bodies.flatMap((b) => b.json.resourceSpans.flatMap(
        (rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, resource: rs.resource })))));
    return got;
}

const otelYaml = (endpoint, extra = '') =>
    `otel:\n  endpoint: ${endpoint}\n  service_name: bulwark-test\n${extra}egress:\n  allow: ["127.0.0.1/32"]\n`;

const attrs = (span) => Object.fromEntries(span.attributes.map((a) =>
    [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value)]));

let up;
const upstream = async () => (up ??= await startUpstream());
after(() => up?.close());

test('each call is a span with GenAI attributes and its receipt id; traceparent continued', async () => {
    const col = await startCollector('ok');
    const token = `collector-token-${crypto.randomBytes(8).toString('hex')}`;
    const gw = await startObservedGateway(scope, { upstream: (await upstream()).v1,
        yaml: otelYaml(col.url, '  headers_env: BW_TEST_OTEL_HEADERS\n'),
        env: { BW_TEST_OTEL_HEADERS: `authorization=Bearer ${token}, x-scope = bulwark ` } });
    const agent = gw.keys.agent_key;
    const ok = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', PROMPT_CANARY), { key: agent });
    assert.equal(ok.status, 200, ok.text);
    const receipt = ok.headers['bulwark-receipt-id'];
    assert.ok(receipt);
    const traceId = crypto.randomBytes(16).toString('hex'), parent = crypto.randomBytes(8).toString('hex');
    const traced = await postJson(gw.port, '/v1/chat/completions', chatBody(), {
        key: agent, headers: { traceparent: `00-${traceId}-${parent}-01` } });
    assert.equal(traced.status, 200);
    const bad = await postJson(gw.port, '/v1/chat/completions', chatBody(), {
        key: agent, headers: { traceparent: `00-${'0'.repeat(32)}-${parent}-01` } });
    assert.equal(bad.status, 200);
    const upper = await postJson(gw.port, '/v1/chat/completions', chatBody(), {
        key: agent, headers: { traceparent: `00-${traceId.toUpperCase()}-${parent}-01` } });
    assert.equal(upper.status, 200);
    const denied = await postJson(gw.port, '/v1/chat/completions', chatBody('not-allowed-model'), { key: agent });
    assert.equal(denied.status, 403);
    const streamed = await postJson(gw.port, '/v1/chat/completions',
                                    chatBody('gpt-4o-mini', PROMPT_CANARY, { stream: true }), { key: agent });
    assert.equal(streamed.status, 200, streamed.text);
    assert.match(streamed.text, /\[DONE\]/);

    await waitFor(() => col.spans().length >= 6, { timeoutMs: 10000, what: '6 spans at the collector' });
    assert.equal(col.bodies[0].url, '/v1/traces');
    assert.equal(col.bodies[0].headers.authorization, `Bearer ${token}`, 'otel.headers_env sent');
    assert.equal(col.bodies[0].headers['x-scope'], 'bulwark');
    assert.match(col.bodies[0].type, /^application\/json/);
    const spans = col.spans();
    const byReceipt = (id) => spans.find((s) => attrs(s)['bulwark.receipt_id'] === id);

    const s = byReceipt(receipt);
    assert.ok(s, `no span with receipt ${receipt}`);
    const a = attrs(s);
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['gen_ai.usage.input_tokens'], 5);
    assert.equal(a['gen_ai.usage.output_tokens'], 1);
    assert.equal(a['http.response.status_code'], 200);
    assert.equal(a['bulwark.decision'], 'allow');
    assert.equal(s.name, 'chat gpt-4o-mini');
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.match(s.startTimeUnixNano, /^\d+$/);
    assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
    assert.ok(Math.abs(Number(BigInt(s.endTimeUnixNano) / 1000000n) - Date.now()) < 60000);
    assert.equal(s.parentSpanId, undefined);
    assert.equal(s.resource.attributes.find((x) => x.key === 'service.name').value.stringValue, 'bulwark-test');

    const t = byReceipt(traced.headers['bulwark-receipt-id']);
    assert.equal(t.traceId, traceId, 'a valid traceparent continues the trace');
    assert.equal(t.parentSpanId, parent);
    assert.notEqual(t.spanId, parent);
    for (const r of [bad, upper]) {
        const x = byReceipt(r.headers['bulwark-receipt-id']);
        assert.notEqual(x.traceId, '0'.repeat(32));
        assert.notEqual(x.traceId, traceId, 'an invalid traceparent was honoured');
        assert.equal(x.parentSpanId, undefined);
    }
    const d = byReceipt(denied.headers['bulwark-receipt-id']);
    assert.equal(attrs(d)['bulwark.decision'], 'deny');
    assert.equal(attrs(d)['bulwark.reason_code'], 'MODEL_NOT_ALLOWED');
    assert.equal(attrs(d)['http.response.status_code'], 403);
    assert.equal(d.status.code, 2);

    const st = attrs(byReceipt(streamed.headers['bulwark-receipt-id']));
    assert.equal(st['http.response.status_code'], 200);
    assert.equal(st['gen_ai.usage.input_tokens'], 7, 'a stream: the usage its last chunk reported');
    assert.equal(st['gen_ai.usage.output_tokens'], 2);

    const raw = col.bodies.map((b) => b.raw).join('\n');
    for (const secret of [PROMPT_CANARY, agent, gw.keys.admin_key, gw.opKey, 'sk-upstream-test'])
        assert.ok(!raw.includes(secret), 'a prompt or key in a span');
    const { fam, text } = await scrapeMetrics(gw);
    assert.ok(sampleValue(fam, 'bulwark_otel_spans_total', { result: 'exported' }) >= 5);
    await gw.proc.stop(3000);
    assert.ok(!gw.proc.stderr.includes(token) && !text.includes(token), 'the collector token leaked');
});

// Sequential calls' latencies (ms).
async function timedCalls(gw, n) {
    const times = [];
    for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
        times.push(performance.now() - t0);
        assert.equal(r.status, 200, r.text);
    }
    return times;
}

test('a hanging collector never slows or fails a call; the queue bound holds', async () => {
    const col = await startCollector('hang');
    const gw = await startObservedGateway(scope, { upstream: (await upstream()).v1,
        yaml: otelYaml(col.url, '  timeout_ms: 20000\n  queue_max: 4\n') });
    // the first span reaches the collector and the exporter's POST hangs there from then on
    await timedCalls(gw, 1);
    await waitFor(() => col.hits >= 1, { timeoutMs: 10000, what: 'the exporter reached the collector' });
    const times = await timedCalls(gw, 40);
    times.sort((x, y) => x - y);
    const median = times[20], worst = times[39];
    assert.ok(median < 500 && worst < 2000, `calls slowed: median ${median} ms, worst ${worst} ms`);
    const { fam } = await scrapeMetrics(gw);
    const dropped = sampleValue(fam, 'bulwark_otel_spans_total', { result: 'dropped_queue_full' });
    assert.ok(dropped >= 40 - 4, `queue bound not respected: only ${dropped} dropped`);
    assert.equal(col.hits, 1, 'a second export started while the first hangs');
    // SIGTERM does not wait for the hanging POST's 20 s timeout: the export is aborted
    const t0 = performance.now();
    const r = await gw.proc.stop(15000);
    assert.equal(r.code, 0, `stop: ${JSON.stringify(r)}`);
    assert.ok(performance.now() - t0 < 8000, `stop took ${performance.now() - t0} ms`);
});

test('a dead collector or one the egress guard refuses: calls fine, spans dropped and counted', async () => {
    // port 1 on loopback: allowed by egress.allow, nothing listens (connection refused); then a
    // private address no allowlist entry covers: the egress guard refuses it before dialling
    for (const yaml of [otelYaml('http://127.0.0.1:1/v1/traces'),
                        `otel:\n  endpoint: http://10.255.255.1:4318/v1/traces\n  timeout_ms: 300\n`]) {
        const gw = await startObservedGateway(scope, { upstream: (await upstream()).v1, yaml });
        const times = await timedCalls(gw, 10);
        assert.ok(Math.max(...times) < 2000, `calls slowed: ${times}`);
        await waitFor(async () => sampleValue((await scrapeMetrics(gw)).fam, 'bulwark_otel_spans_total',
                                              { result: 'dropped_export_failed' }) >= 1,
                      { timeoutMs: 10000, what: 'a failed export counted' });
        const { fam } = await scrapeMetrics(gw);
        assert.equal(sampleValue(fam, 'bulwark_otel_spans_total', { result: 'exported' }), 0);
        await gw.proc.stop(5000);
    }
});

test('otel config is strict', async () => {
    const { run, initData, configYaml } = await import('./lib/harness.mjs');
    const fsp = await import('node:fs/promises');
    const path = await import('node:path');
    const data = await initData(scope);
    const cfg = path.join(data.dir, 'c.yaml');
    for (const [yaml, why] of [
        ['otel:\n  endpoint: ftp://x/v1/traces\n', /otel.endpoint: expected an http/],
        ['otel:\n  endpoint: http://user:pw@127.0.0.1:1/v1/traces\n', /credentials in the URL/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  queue_max: 0\n', /otel.queue_max/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers: x\n', /otel: unknown key 'headers'/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers_env: "A-B"\n', /an environment variable name/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers_env: BW_UNSET_OTEL_H\n', /BW_UNSET_OTEL_H is not set/],
        // a value with CR LF (header injection), a name that is not a token, no '=': refused,
        // and the value (a token) is never echoed
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers_env: BW_BAD_OTEL_H1\n', /is not Name=value/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers_env: BW_BAD_OTEL_H2\n', /is not Name=value/],
        ['otel:\n  endpoint: http://127.0.0.1:1/v1/traces\n  headers_env: BW_BAD_OTEL_H3\n', /is not Name=value/],
    ]) {
        await fsp.writeFile(cfg, configYaml({}) + yaml);
        const r = await run(['serve', '--data', data.dir, '--config', cfg], { env: {
            BULWARK_UPSTREAM_KEY: 'k', BW_BAD_OTEL_H1: 'authorization=pw-secret-1\r\nX-Evil: 1',
            BW_BAD_OTEL_H2: 'bad name=pw-secret-2', BW_BAD_OTEL_H3: 'pw-secret-3' } });
        assert.ok(!r.stderr.includes('pw-secret'), 'a header value echoed');
        assert.notEqual(r.code, 0, yaml);
        assert.match(r.stderr, why);
        assert.ok(!r.stderr.includes('pw@'), 'the URL credentials echoed');
    }
});

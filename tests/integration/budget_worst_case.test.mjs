// budget_worst_case: the reservation is the worst case of what the upstream may produce for a
// request (docs/SPEND.md "Worst case"), so concurrent calls never spend past a budget, and a
// call is never charged for what was not produced. A crafted upstream (a node http server in
// this file) answers exactly what each case needs:
//   - both max_tokens and max_completion_tokens: the upstream honours max_completion_tokens;
//   - n = 8: eight choices, each up to the cap;
//   - no cap at all: the upstream produces up to the cap it received, else 5000 tokens;
//   - an answer without usage: billed at the completion price;
//   - an unreachable upstream and an upstream 502: charged nothing;
//   - a stream that ignores its cap: cut at the reservation, the dropped event not billed;
//   - embeddings given as token ids: each integer is a token, whatever bytes / 4 says.
// Each concurrent case runs many calls at once against a small budget; spend is read back from
// GET /api/v1/usage and GET /api/v1/budget and must stay within the budget.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
    Scope, initData, configYaml, postJson, assertError, getWithKey, waitFor, sseData,
} from './lib/harness.mjs';

const scope = new Scope();
const servers = [];
const sockets = new Set();
after(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) {
        s.closeAllConnections?.();
        await new Promise((r) => s.close(r));
    }
    scope.cleanup();
});

const IMAGE_WORST = 48169; // 2,833 + 8 x 5,667
const PRICE = { prompt: 150000, completion: 600000 }; // gpt-4o-mini, micro-units per 1M tokens
const MODELS = ['both-caps', 'choices', 'no-cap', 'no-usage', 'error-502', 'runaway', 'embed', 'vision'];

// The crafted upstream. Every answer waits `delayMs`, so concurrent calls all race for the
// budget before any settles.
async function craftedUpstream({ delayMs = 400 } = {}) {
    const seen = [];
    const srv = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => setTimeout(() => answer(JSON.parse(body), res, seen), delayMs));
    });
    srv.keepAliveTimeout = 100;
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    servers.push(srv);
    return { url: `http://127.0.0.1:${srv.address().port}/v1`, seen };
}

function answer(req, res, seen) {
    seen.push(req);
    const n = req.n || 1;
    // which cap this upstream honours: max_completion_tokens first (as OpenAI does for newer
    // models), then max_tokens, else it runs long
    const cap = req.max_completion_tokens ?? req.max_tokens ?? 5000;
    if (req.model === 'error-502') {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'bad gateway', type: 'server_error' } }));
        return;
    }
    if (req.model === 'embed') { // token-id input: one token per integer
        const ids = req.input.flat().length;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', model: req.model,
                                 data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
                                 usage: { prompt_tokens: ids, total_tokens: ids } }));
        return;
    }
    if (req.model === 'runaway') { // ignores every cap; never reports usage
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let i = 0;
        const tick = () => {
            if (i++ >= 50 || res.destroyed) { res.end('data: [DONE]\n\n'); return; }
            const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: req.model,
                            choices: [{ index: 0, delta: { content: 'word' }, finish_reason: null }] };
            res.write(`data: ${JSON.stringify(chunk)}\n\n`, () => setTimeout(tick, 5));
        };
        tick();
        return;
    }
    const choices = Array.from({ length: n }, (_, index) => ({
        index, message: { role: 'assistant', content: 'x' }, finish_reason: 'length' }));
    const out = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: req.model, choices };
    // a vision model bills each image at the largest documented cost (gpt-4o-mini, 8 tiles)
    const images = req.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .filter((p) => p.type === 'image_url').length;
    const prompt = 5 + images * IMAGE_WORST;
    if (req.model !== 'no-usage')
        out.usage = { prompt_tokens: prompt, completion_tokens: cap * n, total_tokens: prompt + cap * n };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
}

async function gateway(upstreamUrl, extra, limitsLines = '') {
    const data = await initData(scope);
    const prices = MODELS.map((m) =>
        `  ${m}: {prompt_per_1m_micros: ${PRICE.prompt}, completion_per_1m_micros: ${PRICE.completion}}`);
    const yaml = configYaml({ upstream: upstreamUrl, apiKeyEnv: null, orgs: { default: MODELS } })
        .replace('limits:\n', `limits:\n${limitsLines}`) + `prices:\n${prices.join('\n')}\n` + extra;
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys };
}

const budgetYaml = (tokens, cost) => 'budgets:\n  default:\n' +
    (tokens !== undefined ? `    monthly_tokens: ${tokens}\n` : '') +
    (cost !== undefined ? `    monthly_cost_micros: ${cost}\n` : '');
const promptEstimate = (body) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4);
const cost = (p, c) => Math.ceil((p * PRICE.prompt + c * PRICE.completion) / 1e6);

// Fires `count` identical calls at once; returns the responses.
const burst = (gw, body, count) => Promise.all(Array.from({ length: count }, () =>
    postJson(gw.port, '/v1/chat/completions', body, { key: gw.keys.agent_key, timeoutMs: 60000 })));

// The org's metered spend once `calls` usage rows are in (the metering thread batches them).
async function spend(gw, calls) {
    const row = await waitFor(async () => {
        const u = await getWithKey(gw.port, '/api/v1/usage?group_by=none', gw.keys.admin_key);
        const r = u.json?.rows?.[0] ?? (calls === 0 ? { calls: 0, total_tokens: 0, cost_micros: 0 } : null);
        return r && r.calls === calls ? r : null;
    }, { what: `usage rows for ${calls} calls`, timeoutMs: 10000 });
    const b = await getWithKey(gw.port, '/api/v1/budget', gw.keys.agent_key);
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.spent_tokens, row.total_tokens);
    return row;
}

test('max_tokens and max_completion_tokens both present: the larger is reserved; 200 concurrent calls stay within the budget', async () => {
    const up = await craftedUpstream();
    const body = { model: 'both-caps', max_tokens: 10, max_completion_tokens: 1000,
                   messages: [{ role: 'user', content: 'Say hello.' }] };
    const worst = promptEstimate(body) + 1000;
    const budget = 5 * worst;
    const gw = await gateway(up.url, budgetYaml(budget));
    const rs = await burst(gw, body, 200);
    const ok = rs.filter((r) => r.status === 200);
    for (const r of rs.filter((x) => x.status !== 200))
        assertError(r, 429, 'BUDGET_EXHAUSTED', { receipt: true });
    assert.equal(ok.length, 5, `admitted ${ok.length} of 200`);
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
});

test('n = 8 is reserved 8 times; concurrent calls stay within the budget', async () => {
    const up = await craftedUpstream();
    const body = { model: 'choices', max_tokens: 1000, n: 8,
                   messages: [{ role: 'user', content: 'Say hello.' }] };
    const worst = promptEstimate(body) + 8000;
    const budget = 3 * worst;
    const gw = await gateway(up.url, budgetYaml(budget));
    const rs = await burst(gw, body, 50);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 3, `admitted ${ok.length} of 50`);
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
    assert.equal(row.completion_tokens, 3 * 8000);
});

test('clamping with n: the per-choice cap sent upstream times n fits what is left', async () => {
    const up = await craftedUpstream({ delayMs: 0 });
    const body = { model: 'choices', max_completion_tokens: 1000, n: 4,
                   messages: [{ role: 'user', content: 'Say hello.' }] };
    const budget = promptEstimate(body) + 2000; // fits 500 per choice
    const gw = await gateway(up.url, budgetYaml(budget), '  clamp_max_tokens: true\n');
    const r = await postJson(gw.port, '/v1/chat/completions', body, { key: gw.keys.agent_key });
    assert.equal(r.status, 200, r.text);
    const sent = up.seen[0];
    assert.equal(sent.max_completion_tokens, 500, 'the field the client used carries the clamp');
    assert.equal(sent.n, 4);
    const row = await spend(gw, 1);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of ${budget}`);
});

test('no cap given: the default is reserved and sent upstream; concurrent calls stay within the budget', async () => {
    const up = await craftedUpstream();
    const body = { model: 'no-cap', messages: [{ role: 'user', content: 'Say hello.' }] };
    const worst = promptEstimate(body) + 300;
    const budget = 4 * worst;
    const gw = await gateway(up.url, budgetYaml(budget), '  default_max_tokens: 300\n');
    const rs = await burst(gw, body, 40);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 4, `admitted ${ok.length} of 40`);
    for (const s of up.seen) assert.equal(s.max_tokens, 300, 'the reserved cap reaches the upstream');
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
});

test('an answer without usage is billed its reservation at the completion price; a cost budget holds', async () => {
    const up = await craftedUpstream();
    const body = { model: 'no-usage', max_tokens: 1000, messages: [{ role: 'user', content: 'Say hello.' }] };
    const p = promptEstimate(body);
    const worstCost = cost(p, 1000);
    const budget = 4 * worstCost;
    const gw = await gateway(up.url, budgetYaml(undefined, budget));
    const rs = await burst(gw, body, 40);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 4, `admitted ${ok.length} of 40`);
    const row = await spend(gw, ok.length);
    assert.equal(row.completion_tokens, 4 * 1000, 'the unknown split is billed as completion');
    assert.equal(row.prompt_tokens, 4 * p);
    assert.equal(row.cost_micros, 4 * worstCost, 'charged at the completion price');
    assert.ok(row.cost_micros <= budget);
});

async function closedPort() {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r));
    return port;
}

test('an unreachable upstream charges nothing: an outage does not drain the budget', async () => {
    const port = await closedPort();
    const body = { model: 'both-caps', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };
    const budget = 3 * (promptEstimate(body) + 1000);
    const gw = await gateway(`http://127.0.0.1:${port}/v1`, budgetYaml(budget));
    // waves of as many calls as the budget fits, more calls in all than it fits: none may
    // find it used up
    for (let wave = 0; wave < 5; wave++) {
        const rs = await burst(gw, body, 3);
        for (const r of rs) assert.notEqual(r.status, 429, `refused for budget: ${r.text}`);
    }
    const row = await spend(gw, 15);
    assert.equal(row.total_tokens, 0, `an outage spent ${row.total_tokens}`);
    assert.equal(row.cost_micros, 0);
});

test('a connect timeout (TLS handshake never answered) charges nothing', async () => {
    // a TCP server that accepts and never speaks: the TLS handshake times out before the
    // request is sent
    const silent = net.createServer((sock) => { sockets.add(sock); });
    await new Promise((r) => silent.listen(0, '127.0.0.1', r));
    servers.push(silent);
    const body = { model: 'both-caps', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };
    const budget = 3 * (promptEstimate(body) + 1000);
    const data = await initData(scope);
    const prices = `prices:\n  both-caps: {prompt_per_1m_micros: 1, completion_per_1m_micros: 1}\n`;
    const yaml = configYaml({ upstream: `https://127.0.0.1:${silent.address().port}/v1`,
                              apiKeyEnv: null, connectTimeoutMs: 300, orgs: { default: MODELS } })
        + prices + budgetYaml(budget);
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    const gw = { port: Number(m[1]), keys: data.keys };
    for (let wave = 0; wave < 3; wave++) {
        const rs = await burst(gw, body, 3);
        for (const r of rs) assertError(r, 502, 'UPSTREAM_UNAVAILABLE');
    }
    const row = await spend(gw, 9);
    assert.equal(row.total_tokens, 0, `connect timeouts spent ${row.total_tokens}`);
});

test('an upstream 502 without usage charges nothing', async () => {
    const up = await craftedUpstream();
    const body = { model: 'error-502', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };
    const budget = 3 * (promptEstimate(body) + 1000);
    const gw = await gateway(up.url, budgetYaml(budget));
    for (let wave = 0; wave < 5; wave++) {
        const rs = await burst(gw, body, 3);
        for (const r of rs) assert.equal(r.status, 502, r.text);
    }
    const row = await spend(gw, 15);
    assert.equal(row.total_tokens, 0, `upstream errors spent ${row.total_tokens}`);
});

test('streams cut at their reservation are not billed for the event that was dropped; 100 streams stay within the budget', async () => {
    const up = await craftedUpstream({ delayMs: 300 });
    const body = { model: 'runaway', max_tokens: 5, stream: true,
                   messages: [{ role: 'user', content: 'Tell me a long story.' }] };
    const worst = promptEstimate(body) + 5;
    const budget = 20 * worst;
    const gw = await gateway(up.url, budgetYaml(budget));
    const rs = await burst(gw, body, 100);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 20, `admitted ${ok.length} of 100`);
    for (const r of ok) {
        const events = sseData(r.text);
        assert.match(events[events.length - 1], /"code":"BUDGET_EXHAUSTED"/);
        const delivered = events.filter((e) => e.includes('"delta"')).length;
        assert.equal(delivered, 5, 'the reserved 5 chunks reach the client');
    }
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
    assert.equal(row.completion_tokens, 20 * 5, 'billed what was delivered, not the dropped event');
});

test('embeddings given as token ids reserve one token per id; concurrent calls stay within the budget', async () => {
    const up = await craftedUpstream();
    const input = [Array.from({ length: 2000 }, (_, i) => i % 10)]; // "0," ... two bytes per token
    const body = { model: 'embed', input };
    const budget = 3 * 2000;
    const gw = await gateway(up.url, budgetYaml(budget));
    const rs = await Promise.all(Array.from({ length: 20 }, () =>
        postJson(gw.port, '/v1/embeddings', body, { key: gw.keys.agent_key, timeoutMs: 60000 })));
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 3, `admitted ${ok.length} of 20`);
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
});

test('image parts reserve their worst case (a URL of a few bytes may cost 48k tokens); concurrent calls stay within the budget', async () => {
    const up = await craftedUpstream();
    const image = (u) => ({ type: 'image_url', image_url: { url: u, detail: 'high' } });
    const body = { model: 'vision', max_tokens: 10,
                   messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, image('https://a.example/1.png'),
                                                        image('https://a.example/2.png')] }] };
    const worst = promptEstimate(body) + 2 * IMAGE_WORST + 10;
    const budget = 3 * worst;
    const gw = await gateway(up.url, budgetYaml(budget));
    const rs = await burst(gw, body, 20);
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 3, `admitted ${ok.length} of 20`);
    for (const r of rs.filter((x) => x.status !== 200)) assertError(r, 429, 'BUDGET_EXHAUSTED');
    const row = await spend(gw, ok.length);
    assert.ok(row.total_tokens <= budget, `spent ${row.total_tokens} of a budget of ${budget}`);
});

test('a file part cannot be bounded: refused BUDGET_UNBOUNDED where a budget applies, nothing forwarded', async () => {
    const up = await craftedUpstream({ delayMs: 0 });
    const gw = await gateway(up.url, budgetYaml(1000000));
    for (const file of [{ file_id: 'file-abc' }, { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' }]) {
        const r = await postJson(gw.port, '/v1/chat/completions', {
            model: 'vision', max_tokens: 10,
            messages: [{ role: 'user', content: [{ type: 'text', text: 'sum up' }, { type: 'file', file }] }],
        }, { key: gw.keys.agent_key });
        const e = assertError(r, 400, 'BUDGET_UNBOUNDED');
        assert.match(e.message, /file part/);
    }
    assert.equal(up.seen.length, 0, 'a file part reached the upstream');
});

// Scenario: GET /readyz and the upstream's health under a hostile upstream and under load
// (docs/API.md "Readiness and services").
//   - /readyz answers exactly {"status":"ready"}, whatever credential, query or header comes
//     with it; another method is not a readiness answer;
//   - an upstream that accepts connections and never answers: the call ends with 504
//     UPSTREAM_TIMEOUT within the configured timeout, the services view says the upstream is
//     degraded (timeout), /readyz stays ready, /healthz 200; an upstream answering 5xx: degraded
//     http_5xx; answering again: up;
//   - many /readyz and services reads concurrent with calls and with the upstream failing: every
//     answer is one of the documented shapes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
    Scope, postJson, chatBody, assertError, request, waitFor,
} from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const scope = new Scope();
let w, up;
after(async () => {
    await up?.close();
    await scope.cleanup();
});

const ANSWER = {
    id: 'chatcmpl-r', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

// mode: 'ok' answers, 'hang' never answers, '5xx' answers 503, 'mixed' 503 every third.
async function startUpstream() {
    const u = { mode: 'ok', held: [], n: 0 };
    u.server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
            if (u.mode === 'hang') {
                u.held.push(res);
                return;
            }
            const status = u.mode === '5xx' || (u.mode === 'mixed' && ++u.n % 3 === 0) ? 503 : 200;
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(status === 200 ? ANSWER : { error: { message: 'overloaded' } }));
        });
    });
    await new Promise((r) => u.server.listen(0, '127.0.0.1', r));
    u.v1 = `http://127.0.0.1:${u.server.address().port}/v1`;
    u.close = () => new Promise((r) => {
        u.server.closeAllConnections();
        u.server.close(() => r());
    });
    return u;
}

const readyz = (o = {}) => request(w.port, { path: '/readyz', timeoutMs: 5000, ...o });
const upstreamOf = async () => {
    const v = await api(w.port, 'GET', '/api/v1/platform/services', w.op);
    assert.equal(v.status, 200, v.text);
    return v.json.services.find((s) => s.name === 'upstream');
};

before(async () => {
    up = await startUpstream();
    w = await startTenants(scope, 'sqlite', { config: { upstream: up.v1, timeoutMs: 1500 } });
});

test('readyz: exactly the documented body, no detail, no credential', async () => {
    for (const o of [{}, { headers: { authorization: 'Bearer bwk_garbage' } },
                     { path: '/readyz?verbose=1&detail=all' },
                     { headers: { authorization: `Bearer ${w.op}` } }]) {
        const r = await readyz(o);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.text, '{"status":"ready"}');
        assert.match(r.headers['content-type'], /application\/json/);
    }
    const post = await request(w.port, { method: 'POST', path: '/readyz', body: '{}',
                                         headers: { 'content-type': 'application/json' } });
    assert.notEqual(post.status, 200);
    assert.ok(!/ready/.test(post.text), post.text);
});

test('an upstream that hangs: 504 within the timeout, upstream degraded, still ready', async () => {
    up.mode = 'hang';
    const t0 = Date.now();
    const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent, timeoutMs: 10000 });
    assertError(r, 504, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t0 < 5000, `the call took ${Date.now() - t0} ms`);
    const u = await upstreamOf();
    assert.equal(u.status, 'degraded', JSON.stringify(u));
    assert.equal(u.last_error, 'timeout');
    assert.equal((await readyz()).status, 200);
    assert.equal((await request(w.port, { path: '/healthz' })).status, 200);
    for (const res of up.held.splice(0)) res.destroy();

    up.mode = '5xx';
    const f = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
    assert.equal(f.status, 503, f.text); // the upstream's own error answer, passed through
    const d = await upstreamOf();
    assert.equal(d.status, 'degraded', JSON.stringify(d));
    assert.equal(d.last_error, 'http_5xx');

    up.mode = 'ok';
    const ok = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
    assert.equal(ok.status, 200, ok.text);
    const back = await upstreamOf();
    assert.equal(back.status, 'up', JSON.stringify(back));
    assert.equal(back.last_error, 'http_5xx', 'the last error is kept after recovery');
});

test('concurrent readiness and services reads while calls run and fail', async () => {
    const shapes = new Set(['{"status":"ready"}']);
    const calls = [];
    up.mode = 'mixed';
    for (let i = 0; i < 20; i++) {
        calls.push(postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent }));
    }
    const reads = [];
    for (let i = 0; i < 60; i++) {
        reads.push(readyz());
        if (i % 4 === 0) reads.push(api(w.port, 'GET', '/api/v1/platform/services', w.op));
    }
    const [cs, rs] = await Promise.all([Promise.all(calls), Promise.all(reads)]);
    for (const c of cs) assert.ok([200, 503].includes(c.status), `${c.status} ${c.text}`);
    for (const r of rs) {
        assert.equal(r.status, 200, r.text);
        if (r.json.object === 'platform.services') {
            assert.equal(r.json.services.length, 4);
            for (const s of r.json.services)
                assert.ok(['up', 'degraded', 'down'].includes(s.status), JSON.stringify(s));
        } else {
            assert.ok(shapes.has(r.text), r.text);
        }
    }
    up.mode = 'ok';
    await waitFor(async () => {
        const r = await postJson(w.port, '/v1/chat/completions', chatBody(), { key: w.A.agent });
        return r.status === 200 ? r : null;
    }, { timeoutMs: 5000, what: 'a 200 at the end' });
});

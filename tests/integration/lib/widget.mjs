// widget.mjs: helpers for the public chat widget's integration tests (POST
// /widget/v1/{public_key}/chat). A gateway with extra config lines, enabling an agent's widget
// through the agents API, calling it like a browser does, reading the transcripts the gateway
// stored through the transcripts API, and an upstream that records what it is sent.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';
import { initData, configYaml, request, receipts, predicate } from './harness.mjs';

export const ORIGIN = 'https://shop.example';

// `bulwark serve` with a config whose limits: section gets `limitsLines` and which ends with
// `extraYaml` (e.g. a widget: section). upstream: a mock from startMock.
export async function startWidgetGateway(scope, mock, { limitsLines = '', extraYaml = '',
                                                        config = {} } = {}) {
    const data = await initData(scope);
    const yaml = configYaml({ upstream: mock.v1, apiKeyEnv: null, ...config })
        .replace('limits:\n', `limits:\n${limitsLines}`) + extraYaml;
    const cfg = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(cfg, yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', cfg,
                              '--listen', '127.0.0.1:0']);
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys };
}

export const newWidgetKey = () => 'bwp_' + crypto.randomBytes(32).toString('base64url');

// The receipts of widget calls (decisions and outcomes with route "widget"; admin receipts of
// the agents API are not counted).
export const widgetReceipts = (gw) => receipts(gw.dir).map(predicate)
    .filter((p) => p.route === 'widget');

// One management call with the org's admin key: {status, json, headers}.
export function adminApi(gw, method, p, body) {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${gw.keys.admin_key}` };
    return request(gw.port, { method, path: p, headers,
                              body: body === undefined ? undefined : JSON.stringify(body) });
}

// The agent called `name` as the agents API shows it.
export async function agentByName(gw, name = 'default') {
    const r = await adminApi(gw, 'GET', '/api/v1/agents');
    assert.equal(r.status, 200, r.text);
    const a = r.json.data.find((x) => x.name === name);
    assert.ok(a, `no agent ${name}`);
    return a;
}

// Sets an agent's model through the agents API ('' = none).
export async function setAgentModel(gw, id, model) {
    const r = await adminApi(gw, 'PATCH', `/api/v1/agents/${id}`, { model });
    assert.equal(r.status, 200, r.text);
    return r.json;
}

// POST /api/v1/agents/{id}/widget; returns the agent JSON (widget.public_key, ...).
export async function setWidget(gw, id, body) {
    const r = await adminApi(gw, 'POST', `/api/v1/agents/${id}/widget`, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
}

// Turns the widget of agent `name` on with `origins` through the agents API, after setting the
// agent's model (model null leaves it as it is); returns {key, agent}.
export async function enableWidget(gw, { name = 'default', origins = [ORIGIN], model = 'gpt-4o-mini' } = {}) {
    const a = await agentByName(gw, name);
    if (model !== null) await setAgentModel(gw, a.id, model);
    const agent = await setWidget(gw, a.id, { enabled: true, origins });
    assert.equal(agent.widget.enabled, true);
    assert.match(agent.widget.public_key, /^bwp_[A-Za-z0-9_-]{43}$/);
    return { key: agent.widget.public_key, agent };
}

export async function disableWidget(gw, { name = 'default' } = {}) {
    const a = await agentByName(gw, name);
    return setWidget(gw, a.id, { enabled: false });
}

// The stored transcript messages as GET /api/v1/transcripts lists them (oldest first);
// query: e.g. {conversation_id, agent_id}.
export async function transcripts(gw, query = {}) {
    const q = new URLSearchParams(query).toString();
    const r = await adminApi(gw, 'GET', `/api/v1/transcripts${q ? `?${q}` : ''}`);
    assert.equal(r.status, 200, r.text);
    return r.json.data;
}

// POSTs a widget body like a browser: Origin and Content-Type (origin: null omits it). body: an
// object (JSON-encoded) or raw string/Buffer.
export function widgetPost(port, key, body, { origin = ORIGIN, headers = {}, ...rest } = {}) {
    const h = { 'content-type': 'application/json', ...headers };
    if (origin !== null) h.origin = origin;
    const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return request(port, { method: 'POST', path: `/widget/v1/${key}/chat`, headers: h, body: raw,
                           ...rest });
}

// A CORS preflight for the widget.
export function widgetPreflight(port, key, { origin = ORIGIN, method = 'POST',
                                             headers = 'content-type' } = {}) {
    const h = {};
    if (origin !== null) h.origin = origin;
    if (method !== null) h['access-control-request-method'] = method;
    if (headers !== null) h['access-control-request-headers'] = headers;
    return request(port, { method: 'OPTIONS', path: `/widget/v1/${key}/chat`, headers: h });
}

// An OpenAI-compatible upstream that records every request body and answers each chat call
// with "answer N". For checking what the gateway builds (the browser's body never is it).
export async function startRecordingUpstream(scope) {
    const bodies = [];
    const server = http.createServer((req, res) => {
        const parts = [];
        req.on('data', (d) => parts.push(d));
        req.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            bodies.push({ path: req.url, json: JSON.parse(text) });
            const answer = JSON.stringify({
                id: `chatcmpl-${bodies.length}`, object: 'chat.completion', created: 1,
                model: 'recorded',
                choices: [{ index: 0, finish_reason: 'stop',
                            message: { role: 'assistant', content: `answer ${bodies.length}` } }],
                usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
            });
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(answer);
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    const stop = () => {
        server.closeAllConnections(); // the gateway keeps upstream connections alive
        return new Promise((r) => server.close(() => r()));
    };
    scope.procs.push({ stop, stderr: '',
                       name: 'recording upstream', signal: null, sentSignals: new Set() });
    return { port, v1: `http://127.0.0.1:${port}/v1`, bodies };
}

// widget.mjs: helpers for the public chat widget's integration tests (POST
// /widget/v1/{public_key}/chat). A gateway with extra config lines, enabling an agent's widget,
// calling it like a browser does, and reading the transcripts the gateway stored.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { initData, configYaml, request } from './harness.mjs';

const exec = promisify(execFile);

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
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys, db: path.join(data.dir, 'bulwark.db') };
}

// Runs SQL on the gateway's SQLite database (the sqlite3 CLI, waiting on the gateway's locks).
export async function sql(gw, statement) {
    const r = await exec('sqlite3', ['-cmd', '.timeout 5000', '-json', gw.db, statement]);
    return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

export const newWidgetKey = () => 'bwp_' + crypto.randomBytes(32).toString('base64url');

// Turns the widget of agent `name` on with `origins` (and, if given, a model); returns
// {key, agent}. model: the agent's model (null leaves it as it is).
export async function enableWidget(gw, { name = 'default', origins = [ORIGIN], model = 'gpt-4o-mini' } = {}) {
    const key = newWidgetKey();
    const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
    const setModel = model === null ? '' : `, model = ${q(model)}`;
    await sql(gw, `UPDATE agents SET widget_enabled = 1, widget_key = ${q(key)}, widget_origins = ` +
                  `${q(origins.join(' '))}${setModel} WHERE name = ${q(name)}`);
    const [agent] = await sql(gw, `SELECT id, org_id, name, model FROM agents WHERE name = ${q(name)}`);
    assert.ok(agent, `no agent ${name}`);
    return { key, agent };
}

export async function disableWidget(gw, { name = 'default' } = {}) {
    await sql(gw, `UPDATE agents SET widget_enabled = 0 WHERE name = '${name}'`);
}

// The stored transcript messages, oldest first.
export function transcripts(gw, where = '1 = 1') {
    return sql(gw, `SELECT id, org_id, agent_id, conversation, role, content, receipt_id, ` +
                   `created_ms FROM transcripts WHERE ${where} ORDER BY created_ms, id`);
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

// observe: helpers for the metrics and OpenTelemetry suites: a crafted upstream, a gateway with
// an operator key and extra config, and a /metrics scrape.
//
//   const up = await startUpstream();     // up.v1; model "gpt-4o" answers 500, "hang" never
//                                         // answers, others 200 + usage
//                                         // (an SSE stream ending with a usage chunk if stream: true)
//   const gw = await startObservedGateway(scope, { upstream: up.v1, limits, yaml, env, config });
//   gw.port, gw.keys, gw.opKey, gw.proc, gw.dir
//   const { text, fam } = await scrapeMetrics(gw);   // parsed by lib/prometheus.mjs
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { initData, configYaml, run, request } from './harness.mjs';
import { parsePrometheus } from './prometheus.mjs';

export async function startUpstream() {
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => {
            let model = '', stream = false;
            try { ({ model, stream } = JSON.parse(body)); } catch { /* GET /models */ }
            if (stream && model !== 'gpt-4o') {
                const chunk = (o) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk',
                                                               created: 1, model, ...o })}\n\n`;
                res.writeHead(200, { 'content-type': 'text/event-stream' });
                res.write(chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' } }] }));
                res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
                res.write(chunk({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } }));
                res.end('data: [DONE]\n\n');
                return;
            }
            if (model === 'hang') return; // never answers: the gateway's upstream timeout
            if (model === 'gpt-4o') {
                res.writeHead(500, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ error: { message: 'upstream broke', type: 'server_error' } }));
                return;
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({
                id: 'chatcmpl-1', object: 'chat.completion', created: 1, model,
                choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
                usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
            }));
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { server, v1: `http://127.0.0.1:${server.address().port}/v1`,
             close: () => { server.closeAllConnections(); server.close(); } };
}

export async function startObservedGateway(scope, { upstream, limits = '', yaml = '', env = {}, config = {} } = {}) {
    const data = await initData(scope);
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    const opKey = JSON.parse(op.stdout.trim().split('\n').pop()).key;
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ ...config, upstream })
        .replace('limits:\n', `limits:\n${limits}`) + yaml);
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                             { env: { BULWARK_UPSTREAM_KEY: 'sk-upstream-test', ...env }, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys, opKey, configPath };
}

export async function scrapeMetrics(gw) {
    const r = await request(gw.port, { path: '/metrics', headers: { authorization: `Bearer ${gw.opKey}` } });
    assert.equal(r.status, 200, r.text);
    return { text: r.text, fam: parsePrometheus(r.text), headers: r.headers };
}

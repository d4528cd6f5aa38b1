// log_canary: the request log and the redaction layer (docs/CONFIG.md "log", docs/SECURITY.md
// "Logs"). Distinctive canary values are configured as the upstream provider key (env), an org's
// provider key and a connection credential (vault), API keys, a widget key, a prompt, a tool
// argument and a billing webhook secret; then every route and error path reachable here is
// driven (success, streaming, 400, 401, 403, 404, 405, 413, 431, 429, policy deny,
// require_approval, upstream down, upstream garbage, an upstream that echoes the request's
// Authorization header and prompt in its error body, widget calls and preflight, admin calls
// incl. key create and rotate, connection and provider-key create, a billing webhook with a bad
// signature, a client that hangs up). Then: no canary, nor a recognisable piece of one, is
// anywhere in stderr or the log file; every request produced exactly one JSON line with every
// field; a denied call's line carries its reason code and receipt id; SIGHUP reopens a moved
// log file; the level and format settings filter and shape lines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
    Scope, initData, configYaml, request, postJson, chatBody, waitFor, rawConnect, fileMode,
} from './lib/harness.mjs';
import { completion, chunk } from './lib/crafted.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const hex = (n) => crypto.randomBytes(n).toString('hex');
const CANARY = {
    upstreamKey: `sk-CANARYUP${hex(16)}`,
    orgProviderKey: `sk-proj-CANARYORG${hex(16)}`,
    connSecret: `whsec_${Buffer.from(`CANARYCONN${hex(16)}`).toString('base64')}`,
    connPathToken: `CANARYPATH${hex(8)}`,
    connQueryToken: `CANARYQUERY${hex(8)}`,
    webhookSecret: `whsec_${Buffer.from(`CANARYWH${hex(16)}`).toString('base64')}`,
    prompt: `CANARYPROMPT ${hex(12)} tell me a secret`,
    toolArg: `CANARYTOOL${hex(12)}`,
    fakeKey: `bwk_CANARYFAKE${hex(14)}`,
};

const POLICY = `version: 1
rules:
  - id: big-model
    match: {model: gpt-4o}
    effect: deny
    reason: MODEL_TOO_COSTLY
  - id: needs-review
    match: {route: chat, content: 'APPROVE-ME'}
    effect: require_approval
    approval: {reviewer_role: admin}
  - id: chat
    match: {route: chat}
    effect: allow
  - id: models
    match: {route: models}
    effect: allow
  - id: widget
    match: {route: widget}
    effect: allow
`;

const FIELDS = ['time', 'type', 'request_id', 'method', 'route', 'org', 'agent', 'key_id', 'decision',
                'reason_code', 'receipt_id', 'status', 'upstream_status', 'latency_ms'];

// The crafted upstream: st.mode picks the answer.
async function startUpstream() {
    const st = { mode: 'ok', hits: 0 };
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => {
            st.hits++;
            if (req.url.startsWith('/hook/')) { // the connection's webhook target
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end('{}');
                return;
            }
            let json;
            try { json = JSON.parse(body); } catch { json = {}; }
            switch (st.mode) {
            case 'down':
                req.socket.destroy();
                return;
            case 'garbage':
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(`not json at all ${CANARY.prompt} ${req.headers.authorization}`);
                return;
            case 'echo': // a hostile upstream repeating the credential and the prompt
                res.writeHead(500, { 'content-type': 'application/json' });
                res.end(JSON.stringify({ error: {
                    message: `bad request from Authorization: ${req.headers.authorization} ` +
                             `prompt ${JSON.stringify(json.messages)}`,
                    type: 'invalid_request_error', code: req.headers.authorization } }));
                return;
            case 'slow':
                setTimeout(() => { try { res.end(); } catch { /* gone */ } }, 1500);
                return;
            case 'stream':
                res.writeHead(200, { 'content-type': 'text/event-stream' });
                res.write(chunk({ role: 'assistant', content: `echo ${CANARY.prompt}` }));
                res.write(chunk({}, 'stop'));
                res.end('data: [DONE]\n\n');
                return;
            case 'tool':
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(completion({ tool_calls: [{ id: 'call_1', type: 'function',
                    function: { name: 'lookup', arguments: JSON.stringify({ q: CANARY.toolArg }) } }] })));
                return;
            default:
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(completion({ content: `You said ${CANARY.prompt}` })));
            }
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    st.port = server.address().port;
    st.url = `http://127.0.0.1:${st.port}/v1`;
    st.close = () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); });
    return st;
}

async function freePort() {
    const s = net.createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
}

// A gateway with `logYaml` as its log: section, on a port chosen here (an info-less log level
// hides the "listening" line). Returns {proc, port, dir, keys, logPath}.
async function startLogGateway(up, logYaml, extra = '') {
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const yaml = configYaml({ upstream: up.url, apiKeyEnv: 'BW_CANARY_UPSTREAM_KEY',
                              maxBodyBytes: 65536 })
        .replace('limits:\n', 'limits:\n  key_requests_per_minute: 4\n  key_requests_burst: 4\n') +
        'policy: policy.yaml\n' +
        'billing:\n  standard_secret_env: BW_CANARY_WHSEC\n' +
        'egress:\n  allow: ["127.0.0.1/32"]\nconnections:\n  allow_http: true\n' + extra + logYaml;
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, yaml);
    const port = await freePort();
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath,
                              '--listen', `127.0.0.1:${port}`],
                             { env: { BW_CANARY_UPSTREAM_KEY: CANARY.upstreamKey,
                                      BW_CANARY_WHSEC: CANARY.webhookSecret } });
    const polls = []; // the start-up probes that were answered (each has its line too)
    await waitFor(async () => {
        const r = await request(port, { path: '/healthz', timeoutMs: 1000 });
        polls.push(r);
        return r.status === 200;
    }, { timeoutMs: 15000, what: 'the gateway' });
    return { proc, port, dir: data.dir, keys: data.keys, logPath: path.join(data.dir, 'gw.log'),
             polls };
}

const api = (port, method, p, key, body) =>
    request(port, { method, path: p,
                    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
                    body: body === undefined ? undefined : JSON.stringify(body) });

const jsonLines = (text) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

test('no canary reaches the log; one typed line per request; SIGHUP reopens the file', async () => {
    const up = await startUpstream();
    const gw = await startLogGateway(up, 'log:\n  file: gw.log\n  level: debug\n');
    const sent = [...gw.polls]; // every response we got: its x-request-id
    let hungUp = 0;
    const note = (r) => { sent.push(r); return r; };
    const secrets = [...Object.values(CANARY), gw.keys.admin_key, gw.keys.agent_key];
    const { admin_key: admin, agent_key: agentKey } = gw.keys;
    // fresh agent keys: the rate limit allows 4 calls per key
    const freshKey = async () => {
        const k = note(await api(gw.port, 'POST', '/api/v1/keys', admin, { role: 'agent', name: 'canary-bot' }));
        assert.equal(k.status, 201, k.text);
        secrets.push(k.json.key);
        return k.json.key;
    };
    try {
        note(await request(gw.port, { path: '/healthz' }));
        let key = await freshKey();
        // success (a prompt canary), a stream, a tool-call answer with a canary argument
        let r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.equal(r.status, 200, r.text);
        const okId = r.headers['bulwark-receipt-id'];
        up.mode = 'stream';
        r = note(await postJson(gw.port, '/v1/chat/completions',
                                chatBody('gpt-4o-mini', CANARY.prompt, { stream: true }), { key }));
        assert.equal(r.status, 200);
        up.mode = 'tool';
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt, {
            tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
            messages: [{ role: 'user', content: CANARY.prompt },
                       { role: 'assistant', tool_calls: [{ id: 'c0', type: 'function',
                         function: { name: 'lookup', arguments: JSON.stringify({ q: CANARY.toolArg }) } }] },
                       { role: 'tool', tool_call_id: 'c0', content: CANARY.toolArg }] }), { key }));
        assert.ok(r.status >= 200, r.text);
        // 429: the fifth call of one key within the minute
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.equal(r.status, 429, r.text);
        key = await freshKey();
        // policy deny and require_approval (both with receipts)
        up.mode = 'ok';
        const deny = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o', CANARY.prompt), { key }));
        assert.equal(deny.status, 403, deny.text);
        const appr = note(await postJson(gw.port, '/v1/chat/completions',
                                         chatBody('gpt-4o-mini', `APPROVE-ME ${CANARY.prompt}`), { key }));
        assert.equal(appr.status, 403, appr.text);
        assert.equal(appr.headers['bulwark-decision'], 'require_approval');
        // upstream down, garbage, and an upstream echoing the Authorization header and prompt
        up.mode = 'down';
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.equal(r.status, 502, r.text);
        key = await freshKey();
        up.mode = 'garbage';
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.equal(r.status, 502, r.text);
        up.mode = 'echo';
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.ok(r.status >= 400, r.text);
        // a client that hangs up while the upstream is slow: still one line
        up.mode = 'slow';
        key = await freshKey();
        await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt),
                       { key, timeoutMs: 300 }).catch(() => {});
        hungUp++;
        up.mode = 'ok';
        // 400 bad JSON, 401 with a key-shaped canary, 403 role, 404 with canaries in the target,
        // 405, 413, 431
        r = note(await postJson(gw.port, '/v1/chat/completions',
                                `{"model":"gpt-4o-mini","messages":[{"content":"${CANARY.prompt}"`, { key }));
        assert.equal(r.status, 400, r.text);
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt),
                                { key: CANARY.fakeKey }));
        assert.equal(r.status, 401, r.text);
        r = note(await api(gw.port, 'GET', '/api/v1/orgs', agentKey));
        assert.equal(r.status, 403, r.text);
        r = note(await request(gw.port, { path: `/nope/${CANARY.connPathToken}?token=${CANARY.connQueryToken}`,
                                          headers: { authorization: `Bearer ${admin}` } }));
        assert.equal(r.status, 404, r.text);
        r = note(await request(gw.port, { path: '/v1/chat/completions', headers: { authorization: `Bearer ${agentKey}` } }));
        assert.equal(r.status, 405, r.text);
        r = note(await postJson(gw.port, '/v1/chat/completions',
                                chatBody('gpt-4o-mini', CANARY.prompt.repeat(3000)), { key }));
        assert.equal(r.status, 413, r.text);
        r = note(await request(gw.port, { path: '/healthz',
                                          headers: { 'x-canary': CANARY.prompt.repeat(600),
                                                     authorization: `Bearer ${agentKey}` } }));
        assert.equal(r.status, 431, r.text);
        // admin API: key create and rotate, a connection with a secret and a URL with a token in
        // its path and query, the org's provider key (vault)
        const k = note(await api(gw.port, 'POST', '/api/v1/keys', admin, { role: 'agent', name: 'rot' }));
        secrets.push(k.json.key);
        const rot = note(await api(gw.port, 'POST', `/api/v1/keys/${k.json.id}/rotate`, admin, {}));
        assert.equal(rot.status, 201, rot.text);
        secrets.push(rot.json.key);
        const conn = note(await api(gw.port, 'POST', '/api/v1/connections', admin, {
            kind: 'webhook', name: 'hook', secret: CANARY.connSecret,
            url: `http://127.0.0.1:${up.port}/hook/${CANARY.connPathToken}?sig=${CANARY.connQueryToken}` }));
        assert.equal(conn.status, 201, conn.text);
        note(await api(gw.port, 'POST', `/api/v1/connections/${conn.json.id}/verify`, admin, {}));
        note(await api(gw.port, 'GET', '/api/v1/keys', admin));
        r = note(await api(gw.port, 'PUT', '/api/v1/provider-key', admin, { secret: CANARY.orgProviderKey }));
        assert.ok(r.status < 300, r.text);
        // the org's own key now goes upstream: echoed back, it must not be logged either
        up.mode = 'echo';
        key = await freshKey();
        r = note(await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt), { key }));
        assert.ok(r.status >= 400, r.text);
        up.mode = 'ok';
        // the widget: enable it, preflight, chat
        const agents = note(await api(gw.port, 'GET', '/api/v1/agents', admin));
        const agent = agents.json.data.find((a) => a.name === 'default');
        note(await api(gw.port, 'PATCH', `/api/v1/agents/${agent.id}`, admin, { model: 'gpt-4o-mini' }));
        const wid = note(await api(gw.port, 'POST', `/api/v1/agents/${agent.id}/widget`, admin,
                                   { enabled: true, origins: ['https://shop.example'] }));
        assert.equal(wid.status, 200, wid.text);
        const wkey = wid.json.widget.public_key;
        secrets.push(wkey);
        r = note(await request(gw.port, { method: 'OPTIONS', path: `/widget/v1/${wkey}/chat`,
                                          headers: { origin: 'https://shop.example',
                                                     'access-control-request-method': 'POST',
                                                     'access-control-request-headers': 'content-type' } }));
        assert.equal(r.status, 204, r.text);
        r = note(await request(gw.port, { method: 'POST', path: `/widget/v1/${wkey}/chat`,
                                          headers: { origin: 'https://shop.example', 'content-type': 'application/json' },
                                          body: JSON.stringify({ message: CANARY.prompt }) }));
        assert.equal(r.status, 200, r.text);
        // the billing webhook with a bad signature
        r = note(await request(gw.port, { method: 'POST', path: '/api/v1/webhooks/billing',
                                          headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1',
                                                     'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
                                                     'webhook-signature': `v1,${CANARY.webhookSecret}` },
                                          body: JSON.stringify({ type: 'x', data: { prompt: CANARY.prompt } }) }));
        assert.ok(r.status >= 400 && r.status < 500, r.text);

        // every answered request has its line (written when it ended), the hung-up one too
        await waitFor(() => jsonLines(fs.readFileSync(gw.logPath, 'utf8')).length >= sent.length + hungUp,
                      { what: 'every request line' });
        let lines = jsonLines(fs.readFileSync(gw.logPath, 'utf8'));
        assert.equal(lines.length, sent.length + hungUp, 'one line per request');
        for (const l of lines) {
            assert.deepEqual(Object.keys(l), FIELDS, JSON.stringify(l));
            assert.equal(l.type, 'request');
            assert.match(l.request_id, /^[0-9a-f]{16}$/);
            assert.equal(typeof l.status, 'number');
            assert.equal(typeof l.latency_ms, 'number');
        }
        for (const res of sent) {
            const id = res.headers['x-request-id'];
            const mine = lines.filter((l) => l.request_id === id);
            assert.equal(mine.length, 1, `exactly one line for request ${id} (${res.status})`);
            assert.equal(mine[0].status, res.status);
        }
        const ids = new Set(sent.map((x) => x.headers['x-request-id']));
        const unanswered = lines.filter((l) => !ids.has(l.request_id));
        assert.equal(unanswered.length, hungUp, JSON.stringify(unanswered));
        // 499 when the gateway saw the hang-up first, else what it answered to the closed socket
        assert.ok(unanswered.every((l) => [499, 502].includes(l.status) && l.route === 'chat'),
                  `the hung-up call: ${JSON.stringify(unanswered)}`);
        const lineOf = (res) => lines.find((l) => l.request_id === res.headers['x-request-id']);
        // the denied call: its reason code and receipt id, its principal
        const d = lineOf(deny);
        assert.equal(d.decision, 'deny');
        assert.equal(d.reason_code, 'MODEL_TOO_COSTLY');
        assert.equal(d.receipt_id, deny.headers['bulwark-receipt-id']);
        assert.equal(d.route, 'chat');
        assert.match(d.org, /^org_/);
        assert.match(d.key_id, /^key_/);
        assert.equal(d.upstream_status, null);
        const a = lineOf(appr);
        assert.equal(a.decision, 'require_approval');
        assert.equal(a.receipt_id, appr.headers['bulwark-receipt-id']);
        // an admin change: its admin receipt, its route pattern, its caller
        const kl = lineOf(k);
        assert.match(String(k.headers['bulwark-receipt-id']), /^[0-9a-f]{8}\.\d+$/);
        assert.equal(kl.receipt_id, k.headers['bulwark-receipt-id']);
        assert.equal(kl.route, '/api/v1/keys');
        assert.equal(kl.status, 201);
        assert.match(kl.key_id, /^key_/);
        // refusals at the door and by routing: their codes, never the path
        assert.equal(lines.filter((l) => l.status === 431)[0].route, 'refused');
        assert.equal(lines.filter((l) => l.status === 404)[0].route, 'unknown');
        assert.equal(lines.filter((l) => l.status === 401)[0].reason_code, 'UNAUTHENTICATED');
        const ok = lines.find((l) => l.receipt_id === okId);
        assert.equal(ok.status, 200);
        assert.equal(ok.upstream_status, 200);
        assert.equal(ok.decision, 'allow');

        // SIGHUP after logrotate moved the file: later lines go to a new file, created 0600
        assert.equal(fileMode(gw.logPath), 0o600);
        fs.renameSync(gw.logPath, `${gw.logPath}.1`);
        gw.proc.kill('SIGHUP');
        const after1 = await waitFor(async () => {
            const h = await request(gw.port, { path: '/healthz' });
            return fs.existsSync(gw.logPath) &&
                fs.readFileSync(gw.logPath, 'utf8').includes(h.headers['x-request-id']) && h;
        }, { what: 'a line in the reopened log file' });
        assert.ok(after1);
        assert.equal(fileMode(gw.logPath), 0o600);
        gw.proc.kill('SIGTERM');
        await gw.proc.exited;
        lines = jsonLines(fs.readFileSync(gw.logPath, 'utf8'));
        assert.ok(lines.length >= 1);

        // no canary anywhere: not whole, not a recognisable piece
        const everything = [fs.readFileSync(`${gw.logPath}.1`, 'utf8'), fs.readFileSync(gw.logPath, 'utf8'),
                            gw.proc.stderr, gw.proc.stdout].join('\n');
        assert.ok(!everything.includes('CANARY'), `a canary in the log:\n${
            everything.split('\n').filter((l) => l.includes('CANARY')).join('\n')}`);
        for (const s of new Set(secrets)) {
            const body = s.replace(/^(bwk_|bwp_|sk-proj-|sk-|whsec_)/, '');
            for (const piece of [s, s.slice(0, 12), body.slice(0, 12), body.slice(-12)])
                assert.ok(!everything.includes(piece), `"${piece}" (of a secret) is in the log`);
        }
        assert.ok(!/authorization:\s*\S/i.test(everything.replace(/Authorization: \[REDACTED\]/gi, '')),
                  'an Authorization value in the log');
    } finally {
        await up.close();
    }
});

test('log.level filters free-text lines; log.format: text; log.requests: false', async () => {
    const up = await startUpstream();
    try {
        const gw = await startLogGateway(up, 'log:\n  level: warn\n  format: text\n');
        up.mode = 'garbage'; // the gateway logs a warning about the answer
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini', CANARY.prompt),
                                 { key: gw.keys.agent_key });
        assert.equal(r.status, 502);
        await waitFor(() => gw.proc.stderr.includes(r.headers['x-request-id']), { what: 'the text line' });
        const err = gw.proc.stderr;
        assert.match(err, / warn proxy: upstream answered 200/, 'warn lines pass at level warn');
        assert.doesNotMatch(err, / info /, 'info lines are filtered at level warn');
        assert.match(err, new RegExp(`request request_id=${r.headers['x-request-id']} method=POST ` +
                                     'route=chat .*reason_code=UPSTREAM_BAD_RESPONSE .*status=502 upstream_status=200'));
        assert.ok(!err.includes('{"time"'), 'no JSON lines in text format');
        assert.ok(!err.includes('CANARY'));

        const quiet = await startLogGateway(up, 'log:\n  level: error\n  requests: false\n');
        const q = await postJson(quiet.port, '/v1/chat/completions', chatBody('gpt-4o-mini', 'hi'),
                                 { key: quiet.keys.agent_key });
        assert.equal(q.status, 502);
        quiet.proc.kill('SIGTERM');
        await quiet.proc.exited;
        assert.doesNotMatch(quiet.proc.stderr, / (warn|info) /, 'only errors at level error');
        assert.ok(!quiet.proc.stderr.includes('request_id'), 'no request lines with requests: false');
    } finally {
        await up.close();
    }
});

test('a log file that cannot be opened stops the start; a symlink is refused', async () => {
    const up = await startUpstream();
    try {
        const data = await initData(scope);
        const target = path.join(data.dir, 'elsewhere');
        fs.symlinkSync(target, path.join(data.dir, 'gw.log'));
        const configPath = path.join(data.dir, 'test-config.yaml');
        await fsp.writeFile(configPath, configYaml({ upstream: up.url }) + 'log:\n  file: gw.log\n');
        const p = scope.spawn(['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0'],
                              { env: { BULWARK_UPSTREAM_KEY: 'sk-x' } });
        const { code } = await p.exited;
        assert.notEqual(code, 0);
        assert.match(p.stderr, /cannot open the log file/);
        assert.ok(!fs.existsSync(target), 'nothing written through the symlink');
    } finally {
        await up.close();
    }
});

test('concurrent requests on every worker: one whole line each, none lost or interleaved', async () => {
    const up = await startUpstream();
    try {
        const gw = await startLogGateway(up, 'log:\n  file: gw.log\n');
        const key = gw.keys.agent_key;
        const jobs = [];
        for (let i = 0; i < 120; i++)
            jobs.push(i % 3 === 0
                ? postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o', CANARY.prompt), { key }) // denied
                : request(gw.port, { path: i % 3 === 1 ? '/healthz' : `/missing/${CANARY.connPathToken}` }));
        const res = await Promise.all(jobs);
        const ids = [...gw.polls, ...res].map((r) => r.headers['x-request-id']);
        assert.equal(new Set(ids).size, ids.length, 'request ids are unique');
        await waitFor(() => jsonLines(fs.readFileSync(gw.logPath, 'utf8')).length >= ids.length,
                      { what: 'every line' });
        const text = fs.readFileSync(gw.logPath, 'utf8');
        const raw = text.split('\n').filter((l) => l.includes('"type":"request"'));
        for (const l of raw) assert.doesNotThrow(() => JSON.parse(l), `a torn line: ${l}`);
        const lines = raw.map((l) => JSON.parse(l));
        assert.equal(lines.length, ids.length);
        assert.deepEqual(lines.map((l) => l.request_id).sort(), [...ids].sort());
        assert.ok(!text.includes('CANARY'));
    } finally {
        await up.close();
    }
});

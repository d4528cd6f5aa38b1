// receiver: a connection's far end on 127.0.0.1 for the connections and outbox tests. It
// records every request, verifies Standard Webhooks signatures with the official
// `standardwebhooks` package, answers GitHub's and Notion's identity calls for a known token,
// and can be told to fail (a status) or be closed and reopened on the same port.
//
//   const r = await startReceiver({ secret });   r.port, r.hits, r.url('/hook')
//   r.failWith(503) / r.failWith(0)               answer 503 to /hook (0: back to 204)
//   r.hangWith(true) / r.hangWith(false)          never answer /hook (a receiver that hangs)
//   await r.close(); await r.reopen();            down and up again, same port
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const readBody = (req) => new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
});

export async function startReceiver({ secret, githubToken, notionToken } = {}) {
    const r = {
        hits: [],
        failStatus: 0,
        port: 0,
        server: null,
        url: (p) => `http://127.0.0.1:${r.port}${p}`,
        failWith: (status) => { r.failStatus = status; },
        hang: false,
        hangWith: (on) => { r.hang = on; },
        // verified webhook deliveries, as {id, type, body, at}
        deliveries: () => r.hits.filter((h) => h.path.startsWith('/hook') && h.verified &&
                                              h.answered >= 200 && h.answered < 300),
    };
    const handler = async (req, res) => {
        const body = await readBody(req);
        const hit = { path: req.url, method: req.method, headers: req.headers, body, at: Date.now() };
        r.hits.push(hit);
        const answer = (status, text = '') => {
            hit.answered = status;
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(text);
        };
        if (req.url.startsWith('/hook')) {
            try {
                new Webhook(secret).verify(body, req.headers);
                hit.verified = true;
            } catch {
                hit.verified = false;
            }
            try {
                hit.json = JSON.parse(body);
            } catch {
                hit.json = undefined;
            }
            if (!hit.verified) return answer(401);
            if (r.hang) return undefined; // the request stays open until the client gives up
            if (req.url === '/hook-fails') return answer(500);
            return answer(r.failStatus || 204);
        }
        if (req.url === '/github/user')
            return req.headers.authorization === `Bearer ${githubToken}`
                ? answer(200, '{"login":"octocat"}') : answer(401, '{"message":"Bad credentials"}');
        if (req.url === '/notion/v1/users/me')
            return req.headers.authorization === `Bearer ${notionToken}` &&
                   req.headers['notion-version']
                ? answer(200, '{"object":"user"}') : answer(401, '{"code":"unauthorized"}');
        return answer(404);
    };
    const listen = (port) => new Promise((resolve, reject) => {
        r.server = http.createServer(handler);
        r.server.once('error', reject);
        r.server.listen(port, '127.0.0.1', () => {
            r.port = r.server.address().port;
            resolve();
        });
    });
    r.close = () => new Promise((resolve) => {
        if (!r.server) return resolve();
        r.server.closeAllConnections?.();
        r.server.close(() => resolve());
        r.server = null;
    });
    r.reopen = () => listen(r.port);
    await listen(0);
    return r;
}

// The config sections the connection tests add: 127.0.0.1 allowed, http webhooks allowed,
// GitHub/Notion identity calls sent to the receiver, and any `extra` YAML lines.
export function connectionsYaml(rx, extra = '') {
    return ['egress:', '  allow: ["127.0.0.1/32"]', 'connections:', '  allow_http: true',
            '  verify_timeout_ms: 3000',
            `  github_api_url: "http://127.0.0.1:${rx.port}/github"`,
            `  notion_api_url: "http://127.0.0.1:${rx.port}/notion"`, extra].join('\n') + '\n';
}

// Starts `bulwark serve` again on a tenants world's data dir (after w.proc was stopped or
// killed) with a new config: the generated base, the world's database, then `yaml`. Returns
// {proc, port}.
export async function restartGateway(scope, w, yaml) {
    const { configYaml } = await import('./harness.mjs');
    const fsp = await import('node:fs/promises');
    const path = await import('node:path');
    const configPath = path.join(w.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null }) +
                        (w.database ? `database: "${w.database}"\n` : '') + yaml);
    const proc = scope.spawn(['serve', '--data', w.dir, '--config', configPath, '--listen',
                              '127.0.0.1:0'], { name: 'serve (restarted)' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]) };
}

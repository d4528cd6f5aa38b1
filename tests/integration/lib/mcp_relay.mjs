// A recording relay for tests that must prove what reached an MCP server they cannot instrument
// (server-everything):
//   node mcp_relay.mjs LISTEN_PORT TARGET_URL LOG_FILE
// Every request is appended to LOG_FILE as one JSON line {"http": METHOD, "body": <the JSON
// body or null>} before it is forwarded unchanged (headers, body) to TARGET_URL; the answer
// (status, headers, body, an SSE stream as it arrives) is piped back. Prints "relay listening
// on PORT" on stderr when ready.
import http from 'node:http';
import fs from 'node:fs';

const [port, target, logFile] = process.argv.slice(2);
const to = new URL(target);

http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const raw = Buffer.concat(chunks);
        let body = null;
        try { body = raw.length ? JSON.parse(raw.toString('utf8')) : null; } catch { body = raw.toString('latin1'); }
        fs.appendFileSync(logFile, JSON.stringify({ http: req.method, auth: req.headers.authorization ?? null, body }) + '\n');
        const headers = { ...req.headers, host: to.host };
        const up = http.request({ host: to.hostname, port: to.port, path: to.pathname, method: req.method, headers },
                                (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
        up.on('error', () => { res.writeHead(502); res.end(); });
        res.on('close', () => up.destroy());
        up.end(raw);
    });
}).listen(Number(port), '127.0.0.1', () => console.error(`relay listening on ${port}`));

// MCP test helpers: `bulwark mock-mcp` on an ephemeral port, an official-SDK client over
// Streamable HTTP, and the reference server `@modelcontextprotocol/server-everything` run inside
// a private network namespace (it listens on every interface, so it must not share the host's).
//
// The namespace pattern: everything that must talk to server-everything (the server, a gateway,
// and a node client script) runs inside ONE `unshare -n` bash script started by the test; the
// script prints its results as JSON on stdout. runInNamespace() does the unshare and `ip link set
// lo up`; everythingBash(), mockMcpBash() and serveBash() are the bash that start
// server-everything, mock-mcp and the gateway and wait for them; lib/mcp_client.mjs is a client
// script that runs a JSON plan of SDK calls (clientBash()).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BIN, childEnv, request, sanitizerReport } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const MCP_CLIENT = path.join(HERE, 'mcp_client.mjs');
export const EVERYTHING_BIN = path.join(HERE, '..', 'node_modules', '@modelcontextprotocol',
                                        'server-everything', 'dist', 'index.js');

// `bulwark mock-mcp` on 127.0.0.1:0. url is its MCP endpoint.
export async function startMcpMock(scope) {
    const proc = scope.spawn(['mock-mcp', '--listen', '127.0.0.1:0'], { name: 'mock-mcp' });
    const m = await proc.waitStderr(/mock-mcp listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    const base = `http://127.0.0.1:${port}`;
    const control = async (method, p) => {
        const r = await request(port, { method, path: p });
        if (r.status !== 200) throw new Error(`mock-mcp ${p}: ${r.status} ${r.text}`);
        return r.json;
    };
    return {
        proc,
        port,
        base,
        url: `${base}/mcp`,
        stats: () => control('GET', '/control/stats'),
        mutate: () => control('POST', '/control/mutate'),
        reset: () => control('POST', '/control/reset'),
    };
}

// An SDK Client connected (initialize done) to url. headers go on every HTTP request (e.g.
// {Authorization: 'Bearer bwk_...'}); capabilities are the client's (e.g. {sampling: {}}).
export async function connectMcp(url, { headers = {}, capabilities = {}, name = 'bulwark-test' } = {}) {
    const client = new Client({ name, version: '1.0.0' }, { capabilities });
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
    await client.connect(transport);
    return { client, transport };
}

// What every namespace script starts with (lib/ns_prelude.sh): loopback up, and bw_start NAME REGEX CMD... which runs
// CMD in the background (its stderr to a log) and waits up to 15 s for REGEX in that log. At exit
// every started process is stopped and its log copied to stderr (so a sanitizer report or a
// crash is seen by the test), then the logs are removed.
const PRELUDE = fs.readFileSync(path.join(HERE, 'ns_prelude.sh'), 'utf8');

// Runs a bash script in a fresh network namespace (PRELUDE first). Root: `unshare -n`; otherwise
// `unshare -r -n` (a user namespace maps us to root in it). env is added to the child's (BULWARK_*
// and proxy variables of ours are not passed; BULWARK_BIN is). Resolves {code, signal, stdout,
// stderr}; rejects when a process in it printed a sanitizer report, and kills the whole process
// group after timeoutMs.
export function runInNamespace(script, { env = {}, timeoutMs = 60000 } = {}) {
    const flags = process.getuid && process.getuid() === 0 ? ['-n'] : ['-r', '-n'];
    const child = spawn('unshare', [...flags, 'bash', '-c', PRELUDE + script], {
        env: childEnv({ BULWARK_BIN: BIN, ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
            reject(new Error(`namespace script still running after ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        child.on('error', (e) => { clearTimeout(timer); reject(e); });
        child.on('exit', (code, signal) => {
            clearTimeout(timer);
            const rep = sanitizerReport(stderr);
            if (rep) reject(new Error(`sanitizer report in the namespace: ${rep}\n${stderr}`));
            else resolve({ code, signal, stdout, stderr });
        });
    });
}

// Bash (for runInNamespace) that starts server-everything in streamableHttp mode on port and
// waits until it listens. Its URL: http://127.0.0.1:PORT/mcp.
export function everythingBash(port) {
    return `bw_start server-everything 'listening on port' env PORT=${Number(port)} ` +
        `node ${q(EVERYTHING_BIN)} streamableHttp\n`;
}

// Bash that starts `bulwark mock-mcp` on 127.0.0.1:port. Its URL: http://127.0.0.1:PORT/mcp.
export function mockMcpBash(port) {
    return `bw_start mock-mcp 'mock-mcp listening on' "$BULWARK_BIN" mock-mcp --listen 127.0.0.1:${Number(port)}\n`;
}

// Bash that starts `bulwark serve` on 127.0.0.1:port with a data dir and config the test made
// (initData, configYaml from harness.mjs). Secrets the config names go in runInNamespace's env.
export function serveBash({ dataDir, configPath, port }) {
    return `bw_start 'bulwark serve' 'bulwark listening on' "$BULWARK_BIN" serve --data ${q(dataDir)} ` +
        `--config ${q(configPath)} --listen 127.0.0.1:${Number(port)}\n`;
}

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// Bash that runs lib/mcp_client.mjs against url with plan (an array of steps, see that file),
// headers and options ({sampling: 'TEXT'}); its JSON result is one line on stdout.
export function clientBash(url, plan, { headers = {}, options = {} } = {}) {
    return `node ${q(MCP_CLIENT)} ${q(url)} ${q(JSON.stringify(plan))} ${q(JSON.stringify(headers))} ` +
        `${q(JSON.stringify(options))}\n`;
}

// The JSON a namespace script printed last on stdout.
export function lastJson(stdout) {
    const lines = stdout.trim().split('\n').filter(Boolean);
    if (!lines.length) throw new Error('namespace script printed nothing');
    return JSON.parse(lines[lines.length - 1]);
}

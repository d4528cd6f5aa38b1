// MCP test helpers: `bulwark mock-mcp` on an ephemeral port, an official-SDK client over
// Streamable HTTP, and the reference server `@modelcontextprotocol/server-everything` run inside
// a private network namespace (it listens on every interface, so it must not share the host's).
//
// The namespace pattern: everything that must talk to server-everything (the server, a gateway,
// and a node client script) runs inside ONE `unshare -n` bash script started by the test; the
// script prints its results as JSON on stdout. runInNamespace() does the unshare and `ip link set
// lo up`; everythingBash() is the bash that starts server-everything and waits for it;
// lib/mcp_client.mjs is a client script that runs a JSON plan of SDK calls.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from './harness.mjs';

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

// Runs a bash script in a fresh network namespace whose loopback is up. Root: `unshare -n`;
// otherwise `unshare -r -n` (a user namespace maps us to root in it). Resolves {code, signal,
// stdout, stderr}; the whole process group is killed after timeoutMs.
export function runInNamespace(script, { env = {}, timeoutMs = 60000 } = {}) {
    const flags = process.getuid && process.getuid() === 0 ? ['-n'] : ['-r', '-n'];
    const prelude = 'set -euo pipefail\nip link set lo up\n';
    const child = spawn('unshare', [...flags, 'bash', '-c', prelude + script], {
        env: { ...process.env, ...env },
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
            resolve({ code, signal, stdout, stderr });
        });
    });
}

// Bash (for runInNamespace) that starts server-everything in streamableHttp mode on port and
// waits until it listens; it is killed when the script exits. Its URL: http://127.0.0.1:PORT/mcp.
export function everythingBash(port) {
    return [
        `ev_log=$(mktemp)`,
        `PORT=${Number(port)} node ${JSON.stringify(EVERYTHING_BIN)} streamableHttp 2>"$ev_log" >/dev/null &`,
        `ev_pid=$!`,
        // || true: under set -e, the killed server's status (143) would become the script's.
        `trap 'kill $ev_pid 2>/dev/null || true; wait $ev_pid 2>/dev/null || true; rm -f "$ev_log"' EXIT`,
        `for i in $(seq 1 200); do grep -q 'listening on port' "$ev_log" && break; ` +
            `kill -0 $ev_pid 2>/dev/null || { cat "$ev_log" >&2; exit 1; }; sleep 0.05; done`,
        `grep -q 'listening on port' "$ev_log" || { echo 'server-everything did not start' >&2; cat "$ev_log" >&2; exit 1; }`,
        '',
    ].join('\n');
}

// Bash that runs lib/mcp_client.mjs against url with plan (an array of steps, see that file)
// and headers; its JSON result goes to stdout.
export function clientBash(url, plan, { headers = {} } = {}) {
    const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
    return `node ${q(MCP_CLIENT)} ${q(url)} ${q(JSON.stringify(plan))} ${q(JSON.stringify(headers))}\n`;
}

// The JSON a namespace script printed last on stdout.
export function lastJson(stdout) {
    const lines = stdout.trim().split('\n').filter(Boolean);
    if (!lines.length) throw new Error('namespace script printed nothing');
    return JSON.parse(lines[lines.length - 1]);
}

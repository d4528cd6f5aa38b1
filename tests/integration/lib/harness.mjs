// harness.mjs: shared helpers for Bulwark's integration tests. Every test drives the real
// binary (BULWARK_BIN, default build/bulwark) over HTTP on 127.0.0.1, on ephemeral ports, so
// test files can run in parallel. Every process a test starts and every temp dir it makes is
// owned by a Scope, which the test file cleans up in `after` (and a process 'exit' hook kills
// anything left if the runner itself dies).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.BULWARK_BIN || path.join(REPO, 'build/bulwark');

export const RECEIPT_ID_RE = /^[0-9a-f]{8}\.(\d+)$/;
const RECEIPT_START = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"');

// Children still alive when node exits (a crash, a runner timeout) are killed here.
const live = new Set();
process.on('exit', () => {
    for (const c of live) {
        try {
            c.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn (sync or async) until it returns a truthy value; throws with `what` after timeoutMs.
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                            (last instanceof Error ? `: ${last.message}` : ''));
        await sleep(intervalMs);
    }
}

// The environment for children: the parent's, minus anything that could change Bulwark's
// behaviour behind the test's back (upstream keys, proxies), plus `extra`.
export function childEnv(extra = {}) {
    const env = { ...process.env };
    for (const k of Object.keys(env))
        if (/^BULWARK_|^OPENAI_|_proxy$|_PROXY$/.test(k)) delete env[k];
    // A run-wide debug switch passes through: BULWARK_ASSERT_STORE_OFF_WORKER=1 makes every
    // gateway of the run abort when an event worker enters the store (util/thread_role.h).
    if (process.env.BULWARK_ASSERT_STORE_OFF_WORKER)
        env.BULWARK_ASSERT_STORE_OFF_WORKER = process.env.BULWARK_ASSERT_STORE_OFF_WORKER;
    return { ...env, ...extra };
}

// A sanitizer (ASan/UBSan/LSan) report in a child's stderr: the first line of it, or null.
export function sanitizerReport(stderr) {
    const m = String(stderr).match(/^.*(ERROR: (Address|Leak|Memory|Thread)Sanitizer|WARNING: ThreadSanitizer|Sanitizer: CHECK failed|runtime error:).*$/m);
    return m ? m[0] : null;
}

// A running child process with its output collected.
export class Proc {
    constructor(child, name) {
        this.child = child;
        this.name = name;
        this.pid = child.pid;
        this.stdout = '';
        this.stderr = '';
        this.exitCode = null;
        this.signal = null;
        this.listeners = new Set();
        this.sentSignals = new Set();
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stdout.on('data', (d) => {
            this.stdout += d;
        });
        child.stderr.on('data', (d) => {
            this.stderr += d;
            for (const l of this.listeners) l();
        });
        live.add(child);
        this.exited = new Promise((resolve) => {
            child.on('exit', (code, signal) => {
                this.exitCode = code;
                this.signal = signal;
                live.delete(child);
                for (const l of this.listeners) l();
                resolve({ code, signal });
            });
        });
        child.on('error', (e) => {
            this.stderr += `\n[spawn error: ${e.message}]`;
        });
    }

    get alive() {
        return this.exitCode === null && this.signal === null;
    }

    kill(signal = 'SIGTERM') {
        if (this.alive) {
            this.sentSignals.add(signal);
            this.child.kill(signal);
        }
    }

    // Waits until stderr matches re; returns the match. Fails early if the process exits.
    waitStderr(re, timeoutMs = 10000) {
        return new Promise((resolve, reject) => {
            const check = () => {
                const m = this.stderr.match(re);
                if (m) {
                    done();
                    resolve(m);
                } else if (!this.alive) {
                    done();
                    reject(new Error(`${this.name} exited (code ${this.exitCode}, signal ` +
                                     `${this.signal}) before ${re}; stderr:\n${this.stderr}`));
                }
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; stderr:\n` +
                                 this.stderr));
            }, timeoutMs);
            const done = () => {
                clearTimeout(timer);
                this.listeners.delete(check);
            };
            this.listeners.add(check);
            check();
        });
    }

    // Resolves {code, signal} when the process exits, or rejects after timeoutMs.
    async waitExit(timeoutMs = 5000) {
        let timer;
        const t = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${this.name} still running after ` +
                                                      `${timeoutMs} ms`)), timeoutMs);
        });
        try {
            return await Promise.race([this.exited, t]);
        } finally {
            clearTimeout(timer);
        }
    }

    // SIGTERM, then SIGKILL if it has not exited after graceMs.
    async stop(graceMs = 2000) {
        if (!this.alive) return this.exited;
        this.kill('SIGTERM');
        try {
            return await this.waitExit(graceMs);
        } catch {
            this.kill('SIGKILL');
            return this.exited;
        }
    }
}

// Owns the processes and temp dirs of one test file. Use: const s = new Scope(); after(() =>
// s.cleanup());
export class Scope {
    constructor() {
        this.procs = [];
        this.dirs = [];
    }

    async tmpdir(prefix = 'bw-it-') {
        const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
        this.dirs.push(d);
        return d;
    }

    spawn(args, { env = {}, name = `bulwark ${args[0]}` } = {}) {
        const child = spawn(BIN, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
        const p = new Proc(child, name);
        this.procs.push(p);
        return p;
    }

    // Stops every process, removes the temp dirs, then fails (so the test file fails) if any
    // process printed a sanitizer report or died of a signal nobody sent it (a crash).
    async cleanup() {
        // A server that already exited with an error: its last words go to the log, so a
        // "connection refused" in a test has its cause next to it.
        for (const p of this.procs)
            if (!p.alive && p.exitCode !== 0 && /\bserve\b/.test(p.name))
                console.error(`${p.name} (pid ${p.pid}) exited (code ${p.exitCode}, ` +
                              `signal ${p.signal}); stderr tail:\n` +
                              p.stderr.split('\n').slice(-25).join('\n'));
        await Promise.all(this.procs.map((p) => p.stop(3000)));
        for (const d of this.dirs) await fsp.rm(d, { recursive: true, force: true });
        const problems = [];
        for (const p of this.procs) {
            const rep = sanitizerReport(p.stderr);
            if (rep) {
                problems.push(`${p.name} (pid ${p.pid}): ${rep}`);
                // The whole report (stack traces) so a CI log is enough to find the cause.
                const at = p.stderr.indexOf(rep);
                console.error(`${p.name} (pid ${p.pid}) sanitizer report:\n` +
                              p.stderr.slice(at, at + 20000));
            }
            if (p.signal && !p.sentSignals.has(p.signal))
                problems.push(`${p.name} (pid ${p.pid}) died of ${p.signal}; stderr tail:\n` +
                              p.stderr.split('\n').slice(-15).join('\n'));
        }
        if (problems.length) throw new Error(problems.join('\n'));
    }
}

// Runs the binary to completion: {code, signal, stdout, stderr}.
export async function run(args, { env = {}, timeoutMs = 15000 } = {}) {
    const child = spawn(BIN, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new Proc(child, `bulwark ${args.join(' ')}`);
    try {
        await p.waitExit(timeoutMs);
    } catch (e) {
        p.kill('SIGKILL');
        await p.exited;
        throw e;
    }
    const rep = sanitizerReport(p.stderr);
    if (rep) throw new Error(`bulwark ${args.join(' ')}: ${rep}\n${p.stderr}`);
    return { code: p.exitCode, signal: p.signal, stdout: p.stdout, stderr: p.stderr };
}

// `bulwark init` into a fresh temp dir: {dir, keys, parent}. keys is the parsed stdout JSON.
export async function initData(scope) {
    const parent = await scope.tmpdir('bw-it-data-');
    const dir = path.join(parent, 'data');
    const r = await run(['init', '--data', dir]);
    assert.equal(r.code, 0, `bulwark init failed: ${r.stderr}`);
    const keys = JSON.parse(r.stdout);
    return { dir, keys, parent, stdout: r.stdout, stderr: r.stderr };
}

// Builds a gateway config (YAML text). Every option maps to one key of the contract's config;
// `orgs` is {name: [models]}.
export function configYaml(o = {}) {
    const v = {
        listen: '127.0.0.1:0',
        workers: 2,
        upstream: 'mock',
        apiKeyEnv: 'BULWARK_UPSTREAM_KEY',
        connectTimeoutMs: 2000,
        timeoutMs: 60000,
        maxBodyBytes: 4194304,
        maxJsonDepth: 32,
        maxHeaderBytes: 16384,
        clientTimeoutS: 30,
        batchMax: 256,
        batchWaitUs: 0,
        orgs: { default: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'] },
        ...o,
    };
    const lines = [
        `listen: ${v.listen}`,
        `workers: ${v.workers}`,
        'upstream:',
        `  url: ${v.upstream}`,
    ];
    if (v.apiKeyEnv) lines.push(`  api_key_env: ${v.apiKeyEnv}`);
    lines.push(
        `  connect_timeout_ms: ${v.connectTimeoutMs}`,
        `  timeout_ms: ${v.timeoutMs}`,
        'limits:',
        `  max_body_bytes: ${v.maxBodyBytes}`,
        `  max_json_depth: ${v.maxJsonDepth}`,
        `  max_header_bytes: ${v.maxHeaderBytes}`,
        `  client_timeout_s: ${v.clientTimeoutS}`,
        'ledger:',
        `  batch_max: ${v.batchMax}`,
        `  batch_wait_us: ${v.batchWaitUs}`,
    );
    if (v.preallocateBytes !== undefined) lines.push(`  preallocate_bytes: ${v.preallocateBytes}`);
    lines.push('orgs:');
    for (const [name, models] of Object.entries(v.orgs))
        lines.push(`  ${name}:`, `    allowed_models: [${models.join(', ')}]`);
    return lines.join('\n') + '\n';
}

// `bulwark mock-upstream` on an ephemeral port.
export async function startMock(scope, { latencyMs, args = [] } = {}) {
    const a = ['mock-upstream', '--listen', '127.0.0.1:0', ...args];
    if (latencyMs !== undefined) a.push('--latency-ms', String(latencyMs));
    const proc = scope.spawn(a, { name: 'mock-upstream' });
    const m = await proc.waitStderr(/mock-upstream listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    const base = `http://127.0.0.1:${port}`;
    return {
        proc,
        port,
        base,
        v1: `${base}/v1`,
        stats: async () => (await request(port, { path: '/__mock/stats' })).json,
        reset: async () => {
            const r = await request(port, { method: 'POST', path: '/__mock/reset' });
            assert.ok(r.status < 300, `mock reset: ${r.status}`);
        },
    };
}

// A data dir (fresh unless `data` is given), a config written into it, and `bulwark serve`.
// upstream: a mock from startMock, a URL, or 'mock'. Returns {proc, port, dir, keys, upstreamKey,
// configPath}. Unless apiKeyEnv is set to null, the upstream key env var is set to a random key.
export async function startGateway(scope, o = {}) {
    const data = o.data || (await initData(scope));
    const upstream = o.upstream === undefined ? 'mock'
        : typeof o.upstream === 'string' ? o.upstream : o.upstream.v1;
    const cfgOpts = { ...o.config, upstream };
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml(cfgOpts));
    const upstreamKey = o.upstreamKey ?? `sk-upstream-${crypto.randomBytes(8).toString('hex')}`;
    const env = { ...(o.env || {}) };
    if (cfgOpts.apiKeyEnv !== null && !('BULWARK_UPSTREAM_KEY' in env))
        env.BULWARK_UPSTREAM_KEY = upstreamKey;
    const args = ['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0'];
    if (o.upstreamFlag) args.push('--upstream', o.upstreamFlag);
    const proc = scope.spawn(args, { env, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return {
        proc,
        pid: proc.pid,
        port: Number(m[1]),
        dir: data.dir,
        keys: data.keys,
        data,
        upstreamKey,
        configPath,
    };
}

// One HTTP request on its own connection (no keep-alive, so nothing leaks between tests).
// Returns {status, headers, body (Buffer), text, json (or undefined)}.
export function request(port, o = {}) {
    const { method = 'GET', path: p = '/', headers = {}, body, timeoutMs = 15000, chunked = false } =
        o;
    return new Promise((resolve, reject) => {
        const h = { ...headers };
        let payload = body;
        if (payload !== undefined && !Buffer.isBuffer(payload)) payload = Buffer.from(payload);
        if (payload !== undefined && !chunked && h['content-length'] === undefined)
            h['content-length'] = String(payload.length);
        if (chunked) h['transfer-encoding'] = 'chunked';
        const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h,
                                   agent: false });
        const timer = setTimeout(() => {
            req.destroy(new Error(`${method} ${p}: no response within ${timeoutMs} ms`));
        }, timeoutMs);
        req.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        req.on('response', (res) => {
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('error', (e) => {
                clearTimeout(timer);
                reject(e);
            });
            res.on('end', () => {
                clearTimeout(timer);
                const buf = Buffer.concat(parts);
                const text = buf.toString('utf8');
                let json;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode, headers: res.headers, body: buf, text, json });
            });
        });
        if (payload !== undefined && chunked) {
            // Several chunks, so the server really has to reassemble a chunked body.
            const step = Math.max(1, Math.ceil(payload.length / 4));
            for (let i = 0; i < payload.length; i += step) req.write(payload.subarray(i, i + step));
        } else if (payload !== undefined) {
            req.write(payload);
        }
        req.end();
    });
}

// POST a JSON body (object, or raw string/Buffer sent as is) with the agent key.
export function postJson(port, p, body, { key, headers = {}, ...rest } = {}) {
    const h = { 'content-type': 'application/json', ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return request(port, { method: 'POST', path: p, headers: h, body: raw, ...rest });
}

export const chatBody = (model = 'gpt-4o-mini', content = 'Say hello.', extra = {}) => ({
    model,
    messages: [{ role: 'user', content }],
    ...extra,
});

export const healthz = (port) => request(port, { path: '/healthz', timeoutMs: 5000 });

export async function assertHealthy(port) {
    const r = await healthz(port);
    assert.equal(r.status, 200, `healthz: ${r.status} ${r.text}`);
    assert.deepEqual(r.json, { status: 'ok' });
}

// Asserts the OpenAI error shape with Bulwark's reason code. Returns the error object.
export function assertError(res, status, code, { receipt = 'any' } = {}) {
    assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/json/,
                 `content-type of a ${status}`);
    assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.text}`);
    const e = res.json.error;
    assert.ok(e && typeof e === 'object', `no "error" object: ${res.text}`);
    assert.equal(e.code, code, `error.code: ${res.text}`);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0, 'empty error.message');
    assert.equal(typeof e.type, 'string');
    assert.ok(e.type.length > 0, 'empty error.type');
    if (receipt === true) {
        assert.match(String(e.receipt_id), RECEIPT_ID_RE, `error.receipt_id: ${res.text}`);
        assert.equal(e.receipt_id, res.headers['bulwark-receipt-id'],
                     'error.receipt_id differs from the bulwark-receipt-id header');
    } else if (receipt === false) {
        assert.equal(e.receipt_id, undefined, `unexpected receipt_id: ${res.text}`);
    }
    return e;
}

// Asserts bulwark-receipt-id / bulwark-decision; returns the receipt's leaf index.
export function assertDecision(res, decision, keys) {
    const id = res.headers['bulwark-receipt-id'];
    assert.match(String(id), RECEIPT_ID_RE, `bulwark-receipt-id header: ${id}`);
    assert.equal(res.headers['bulwark-decision'], decision, 'bulwark-decision header');
    if (keys) assert.equal(id.split('.')[0], keyIdOf(keys.public_key),
                           'receipt id prefix is not the log key id from init');
    return Number(id.split('.')[1]);
}

// The 8-hex key id of a C2SP verifier key "name+hexkeyid+base64" (the base64 may hold '+'
// too, the name may not).
export function keyIdOf(vkey) {
    const m = String(vkey).match(/^[^+]+\+([0-9a-f]{8})\+/);
    return m ? m[1] : undefined;
}

export const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---- the ledger ----

export const ledgerPath = (dir) => path.join(dir, 'ledger', 'log');
export const readLedger = (dir) => fs.readFileSync(ledgerPath(dir));

// Receipts are canonical JSON (printable ASCII) stored verbatim inside framed records: find each
// in-toto Statement by its fixed opening and cut it at its matching brace. Returns
// [{bytes, obj, leafHash}] in file order.
export function parseReceipts(buf) {
    const out = [];
    let i = 0;
    for (;;) {
        const start = buf.indexOf(RECEIPT_START, i);
        if (start < 0) break;
        let depth = 0;
        let inStr = false;
        let end = -1;
        for (let j = start; j < buf.length; j++) {
            const c = buf[j];
            if (inStr) {
                if (c === 0x5c) j++;
                else if (c === 0x22) inStr = false;
            } else if (c === 0x22) inStr = true;
            else if (c === 0x7b) depth++;
            else if (c === 0x7d && --depth === 0) {
                end = j + 1;
                break;
            }
        }
        if (end < 0) break; // torn tail
        const bytes = buf.subarray(start, end);
        let obj;
        try {
            obj = JSON.parse(bytes.toString('latin1'));
        } catch {
            obj = undefined;
        }
        if (obj) {
            const leafHash = crypto.createHash('sha256').update(Buffer.from([0]))
                .update(bytes).digest('hex');
            out.push({ bytes: Buffer.from(bytes), obj, leafHash });
        }
        i = end;
    }
    return out;
}

export const receipts = (dir) => parseReceipts(readLedger(dir));
export const predicate = (r) => r.obj.predicate || {};

// The receipt at leaf `index` (predicate.log.index), or undefined.
export function receiptAt(dir, index) {
    return receipts(dir).find((r) => predicate(r).log && predicate(r).log.index === index);
}

// The outcome receipt whose parent is the decision receipt `decision` (matched by leaf hash).
export function outcomeOf(dir, decision) {
    return receipts(dir).find((r) => predicate(r).kind === 'outcome' &&
                              predicate(r).parent_leaf_hash === decision.leafHash);
}

export async function waitOutcome(dir, index, timeoutMs = 5000) {
    return waitFor(() => {
        const d = receiptAt(dir, index);
        return d && outcomeOf(dir, d);
    }, { timeoutMs, what: `outcome receipt for leaf ${index}` });
}

// ---- raw sockets ----

// Connects a raw TCP socket; collects what the server sends; `closed` resolves on close.
export function rawConnect(port) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        const st = { sock, data: Buffer.alloc(0), closedAt: null };
        st.closed = new Promise((res) => sock.on('close', () => {
            st.closedAt = Date.now();
            res();
        }));
        sock.on('data', (d) => {
            st.data = Buffer.concat([st.data, d]);
        });
        sock.on('error', () => {});
        sock.once('connect', () => resolve(st));
        sock.once('error', reject);
    });
}

// Reads an SSE body into data payloads ("data: X" lines), in order.
export function sseData(text) {
    return text.split(/\r?\n/).filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim());
}

export function fileMode(p) {
    return fs.statSync(p).mode & 0o777;
}

// ---- egress: a resolver the test controls ----

// Runs `file argv...` to completion: {code, signal, stdout, stderr}. Fails on a sanitizer report.
export async function runCommand(file, argv, { env = {}, timeoutMs = 15000 } = {}) {
    const child = spawn(file, argv, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new Proc(child, `${file} ${argv.join(' ')}`);
    try {
        await p.waitExit(timeoutMs);
    } catch (e) {
        p.kill('SIGKILL');
        await p.exited;
        throw e;
    }
    const rep = sanitizerReport(p.stderr);
    if (rep) throw new Error(`${p.name}: ${rep}\n${p.stderr}`);
    return { code: p.exitCode, signal: p.signal, stdout: p.stdout, stderr: p.stderr };
}

// Runs the binary with `hostsFile` bind-mounted over /etc/hosts in a private mount namespace
// (unshare -m; needs root or CAP_SYS_ADMIN), so the system resolver answers what the test wrote.
// The production binary is unchanged: it reads /etc/hosts through glibc as always.
export function runWithHosts(hostsFile, args, opts = {}) {
    const script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"';
    return runCommand('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh',
                                  hostsFile, BIN, ...args], opts);
}

// null if runWithHosts works here, else why not (for a skip message).
export async function hostsNamespaceUnavailable() {
    const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'bw-ns-'));
    try {
        const f = path.join(d, 'hosts');
        await fsp.writeFile(f, '127.0.0.1 localhost\n');
        const r = await runCommand('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
                                               'mount --bind "$1" /etc/hosts', 'sh', f]);
        return r.code === 0 ? null : `unshare -m / mount --bind not permitted: ${r.stderr.trim()}`;
    } catch (e) {
        return `unshare unavailable: ${e.message}`;
    } finally {
        await fsp.rm(d, { recursive: true, force: true });
    }
}

// ---- spend (billing webhooks, budgets, usage) ----

// Like startGateway, but appends `extraYaml` (top-level sections such as billing:, plans:,
// budgets:, prices:) to the generated config. o: as startGateway (data, config, env).
export async function startGatewayWithYaml(scope, extraYaml, o = {}) {
    const data = o.data || (await initData(scope));
    const cfgOpts = { ...o.config, upstream: 'mock' };
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml(cfgOpts) + extraYaml);
    const env = { BULWARK_UPSTREAM_KEY: `sk-upstream-${crypto.randomBytes(8).toString('hex')}`,
                  ...(o.env || {}) };
    const args = ['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0'];
    const proc = scope.spawn(args, { env, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, pid: proc.pid, port: Number(m[1]), dir: data.dir, keys: data.keys, data,
             configPath };
}

// POSTs raw bytes to the billing webhook endpoint with the given headers.
export function postWebhook(port, body, headers) {
    return request(port, { method: 'POST', path: '/api/v1/webhooks/billing',
                           headers: { 'content-type': 'application/json', ...headers }, body });
}

// GET with a bearer key; returns request()'s result.
export function getWithKey(port, p, key) {
    return request(port, { path: p, headers: { authorization: `Bearer ${key}` } });
}

// The canary scan (issue 5: "secrets never come back out"). Canary secrets are stored through
// the API (a webhook signing secret and a token in its URL path, GitHub and Notion tokens, a
// replaced token, a refused Slack URL); events are delivered; then every API response body
// and header, the gateway's log (stderr), a database dump (sqlite3 .dump and the raw database
// files; pg_dump as the owner role on PostgreSQL), the ledger file and an exported evidence
// pack are searched for each canary, as text and as hex. None may contain one: the database
// holds only ciphertext and a fingerprint of at most 4 characters.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Scope, run, runCommand, waitFor } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const hex = (n) => crypto.randomBytes(n).toString('hex');
const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;

for (const backend of ['sqlite', 'pg']) {
    test(`no canary secret in any response, log, dump or pack (${backend})`,
         { skip: backend === 'pg' && !pgAvailable() && 'PostgreSQL server binaries missing' },
         async () => {
        const WH = `whsec_${crypto.randomBytes(32).toString('base64')}`;
        const GH = `ghp_CANARY${hex(16)}`;
        const GH2 = `ghp_CANARY${hex(16)}`;
        const NOTION = `secret_CANARY${hex(16)}`;
        const HOOKTOK = `CANARY${hex(12)}`;
        const SLACKTOK = `CANARY${hex(12)}`;
        const canaries = [WH, WH.slice(6), GH, GH2, NOTION, HOOKTOK, SLACKTOK,
                          Buffer.from(WH.slice(6), 'base64').toString('hex')];
        const rx = await startReceiver({ secret: WH, githubToken: GH, notionToken: NOTION });
        const w = await startTenants(scope, backend, {
            yaml: connectionsYaml(rx, 'outbox:\n  backoff_base_ms: 100\n  poll_ms: 100'),
        });
        const seen = []; // every response: status line, headers and body
        const call = async (...a) => {
            const r = await api(w.port, ...a);
            seen.push(JSON.stringify(r.headers) + r.text);
            return r;
        };
        try {
            const admin = w.A.admin;
            const hook = await call('POST', '/api/v1/connections', admin,
                                    { kind: 'webhook', name: 'hook', url: rx.url(`/hook/${HOOKTOK}`), secret: WH });
            assert.equal(hook.status, 201, hook.text);
            const gh = await call('POST', '/api/v1/connections', admin, { kind: 'github', name: 'gh', secret: GH });
            assert.equal(gh.status, 201, gh.text);
            const no = await call('POST', '/api/v1/connections', admin, { kind: 'notion', name: 'no', secret: NOTION });
            assert.equal(no.status, 201, no.text);
            const sl = await call('POST', '/api/v1/connections', admin,
                                  { kind: 'slack', name: 'sl', url: `https://hooks.slack.com.evil.example/services/${SLACKTOK}` });
            assert.equal(sl.status, 422, sl.text);
            // a refused replacement, then an accepted one (the receiver now expects GH2)
            assert.equal((await call('PATCH', `/api/v1/connections/${gh.json.id}`, admin, { secret: GH2 })).status, 422);
            await call('GET', '/api/v1/connections', admin);
            for (const id of [hook.json.id, gh.json.id, no.json.id]) {
                await call('GET', `/api/v1/connections/${id}`, admin);
                await call('POST', `/api/v1/connections/${id}/verify`, admin, {});
            }
            // an event through the outbox
            const k = await call('POST', '/api/v1/keys', admin, { role: 'agent', name: 'canary-bot' });
            assert.equal(k.status, 201);
            await waitFor(() => rx.deliveries().some((h) => h.json?.type === 'key.create'),
                          { what: 'the key event' });
            // metadata does show a fingerprint of 4 characters at most
            const list = await call('GET', '/api/v1/connections', admin);
            const fp = Object.fromEntries(list.json.data.map((x) => [x.name, x.fingerprint]));
            assert.deepEqual(fp, { gh: `…${GH.slice(-4)}`, hook: `…${WH.slice(-4)}`, no: `…${NOTION.slice(-4)}` });

            // the evidence pack and the ledger
            const pack = path.join(w.dir, '..', 'pack.tar');
            const ex = await run(['export', '--data', w.dir, '--out', pack]);
            assert.equal(ex.code, 0, ex.stderr);
            const targets = {
                responses: seen.join('\n'),
                log: w.proc.stderr,
                pack: fs.readFileSync(pack),
                ledger: fs.readFileSync(path.join(w.dir, 'ledger', 'log')),
            };
            if (backend === 'sqlite') {
                const d = await runCommand('sqlite3', [path.join(w.dir, 'bulwark.db'), '.dump']);
                assert.equal(d.code, 0, d.stderr);
                assert.match(d.stdout, /CREATE TABLE secrets/);
                assert.match(d.stdout, /INSERT INTO secrets/);
                targets.dump = d.stdout;
                for (const f of fs.readdirSync(w.dir).filter((f) => f.startsWith('bulwark.db')))
                    targets[f] = fs.readFileSync(path.join(w.dir, f));
            } else {
                const [, host, port] = w.database.match(/host=([^&]+)&port=(\d+)/);
                const d = spawnSync('pg_dump', ['-h', host, '-p', port,
                                                '-U', 'bulwark_owner', '-d', 'bulwark'], { encoding: 'utf8' });
                assert.equal(d.status, 0, d.stderr);
                assert.match(d.stdout, /COPY public\.secrets/);
                targets.dump = d.stdout;
            }
            const leaks = [];
            for (const [name, t] of Object.entries(targets)) {
                const text = Buffer.isBuffer(t) ? t.toString('latin1') : t;
                const lower = text.toLowerCase();
                for (const c of canaries)
                    if (text.includes(c) || lower.includes(Buffer.from(c).toString('hex')))
                        leaks.push(`${name} holds ${c.slice(0, 12)}…`);
            }
            assert.deepEqual(leaks, []);
        } finally {
            await w.stop();
            await rx.close();
        }
    });
}

// Connections are verified before they are saved (docs/API.md "Connections"): the URL passes
// the egress guard (a private address is refused at save time, before any network), Slack and
// Discord URLs must be https on their own hosts, and a live call must succeed: the receiver on
// 127.0.0.1 (allowed by egress.allow) gets a signed test message; a receiver that fails, or a
// token GitHub/Notion refuse, means nothing is saved. Runs on SQLite and on PostgreSQL (when
// scripts/pg-test.sh can start one). GitHub and Notion are exercised through
// connections.github_api_url / notion_api_url pointing at the local receiver.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Scope, assertError } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { startReceiver, connectionsYaml } from './lib/receiver.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const GITHUB = `ghp_${crypto.randomBytes(16).toString('hex')}`;
const NOTION = `secret_${crypto.randomBytes(16).toString('hex')}`;

const pgAvailable = () => spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'],
                                    { encoding: 'utf8' }).status === 0;

for (const backend of ['sqlite', 'pg']) {
    test(`verified on save, refused when verification fails (${backend})`,
         { skip: backend === 'pg' && !pgAvailable() && 'PostgreSQL server binaries missing' },
         async () => {
        const rx = await startReceiver({ secret: SECRET, githubToken: GITHUB, notionToken: NOTION });
        const w = await startTenants(scope, backend, { yaml: connectionsYaml(rx) });
        try {
            const admin = w.A.admin;
            // a generic webhook: the receiver gets one signed test message, then it is saved
            const c = await api(w.port, 'POST', '/api/v1/connections', admin,
                                { kind: 'webhook', name: 'ops-hook', url: rx.url('/hook'), secret: SECRET });
            assert.equal(c.status, 201, c.text);
            assert.equal(rx.hits.length, 1);
            assert.equal(rx.hits[0].verified, true, 'standardwebhooks refused the test message');
            assert.equal(rx.hits[0].json.type, 'connection.verify');
            assert.match(c.json.id, /^con_[0-9a-f]{16}$/);
            assert.equal(c.json.kind, 'webhook');
            assert.equal(c.json.status, 'healthy');
            assert.equal(c.json.url, `http://127.0.0.1:${rx.port}`, 'display URL: origin only');
            assert.equal(c.json.fingerprint, `…${SECRET.slice(-4)}`);
            assert.match(c.headers['bulwark-receipt-id'], /^[0-9a-f]{8}\.\d+$/);
            assert.ok(!c.text.includes(SECRET.slice(6, 30)), 'the secret came back');

            // a failing receiver: nothing saved, a clear reason
            const before = rx.hits.length;
            const f = await api(w.port, 'POST', '/api/v1/connections', admin,
                                { kind: 'webhook', name: 'bad-hook', url: rx.url('/hook-fails'), secret: SECRET });
            assertError(f, 422, 'CONNECTION_VERIFY_FAILED');
            assert.match(f.json.error.message, /HTTP 500/);
            assert.equal(rx.hits.length, before + 1);
            // a wrong signing secret: the receiver refuses the signature (401)
            const other = `whsec_${crypto.randomBytes(32).toString('base64')}`;
            const g = await api(w.port, 'POST', '/api/v1/connections', admin,
                                { kind: 'webhook', name: 'bad-secret', url: rx.url('/hook'), secret: other });
            assertError(g, 422, 'CONNECTION_VERIFY_FAILED');
            // a private address: refused at save time by the egress guard, never dialled
            for (const url of ['http://10.0.0.1/hook', 'http://169.254.169.254/latest/meta-data/',
                               `http://127.0.0.2:${rx.port}/hook`, `http://localhost:${rx.port}/hook`]) {
                const n = rx.hits.length;
                const b = await api(w.port, 'POST', '/api/v1/connections', admin,
                                    { kind: 'webhook', name: 'private', url, secret: SECRET });
                assertError(b, 422, 'EGRESS_BLOCKED');
                assert.equal(rx.hits.length, n, `${url} was dialled`);
                assert.ok(!b.text.includes('/hook') && !b.text.includes('meta-data'),
                          'a URL path leaked into the error');
            }
            // Slack and Discord: https on their own hosts only
            const slackTok = `T000/B000/${crypto.randomBytes(12).toString('hex')}`;
            const s = await api(w.port, 'POST', '/api/v1/connections', admin,
                                { kind: 'slack', name: 'slack', url: `http://127.0.0.1:${rx.port}/services/${slackTok}` });
            assertError(s, 422, 'CONNECTION_URL_REJECTED');
            assert.ok(!s.text.includes(slackTok));
            const d = await api(w.port, 'POST', '/api/v1/connections', admin,
                                { kind: 'discord', name: 'discord', url: 'https://evil.example/api/webhooks/1/x' });
            assert.equal(d.status, 422, d.text);
            // shape errors
            assertError(await api(w.port, 'POST', '/api/v1/connections', admin,
                                  { kind: 'slack', name: 'x', url: 'https://hooks.slack.com/services/a', secret: 'x' }),
                        400, 'INVALID_REQUEST');
            assertError(await api(w.port, 'POST', '/api/v1/connections', admin,
                                  { kind: 'webhook', name: 'x', url: rx.url('/hook'), secret: 'not-whsec' }),
                        400, 'INVALID_REQUEST');
            assertError(await api(w.port, 'POST', '/api/v1/connections', admin,
                                  { kind: 'ftp', name: 'x', url: rx.url('/hook') }), 400, 'INVALID_REQUEST');
            // a taken name: 409 before any call
            const n = rx.hits.length;
            assertError(await api(w.port, 'POST', '/api/v1/connections', admin,
                                  { kind: 'webhook', name: 'ops-hook', url: rx.url('/hook'), secret: SECRET }),
                        409, 'CONFLICT');
            assert.equal(rx.hits.length, n);

            // GitHub and Notion: the identity call with the token
            const gh = await api(w.port, 'POST', '/api/v1/connections', admin,
                                 { kind: 'github', name: 'gh', secret: GITHUB });
            assert.equal(gh.status, 201, gh.text);
            assert.equal(gh.json.fingerprint, `…${GITHUB.slice(-4)}`);
            const ghBad = await api(w.port, 'POST', '/api/v1/connections', admin,
                                    { kind: 'github', name: 'gh2', secret: 'ghp_wrongwrongwrongwrong' });
            assertError(ghBad, 422, 'CONNECTION_VERIFY_FAILED');
            assert.match(ghBad.json.error.message, /401/);
            const no = await api(w.port, 'POST', '/api/v1/connections', admin,
                                 { kind: 'notion', name: 'notion', secret: NOTION });
            assert.equal(no.status, 201, no.text);

            // listed: only the three verified ones, metadata only
            const list = await api(w.port, 'GET', '/api/v1/connections', admin);
            assert.equal(list.status, 200);
            assert.deepEqual(list.json.data.map((x) => x.name).sort(), ['gh', 'notion', 'ops-hook']);
            for (const x of list.json.data) {
                assert.equal(x.secret, undefined);
                assert.equal(x.sealed, undefined);
            }
            for (const t of [SECRET.slice(6), GITHUB, NOTION])
                assert.ok(!list.text.includes(t), 'a secret came back in the list');

            // re-verify now; then a token the far end no longer accepts marks it unhealthy
            const v = await api(w.port, 'POST', `/api/v1/connections/${gh.json.id}/verify`, admin, {});
            assert.equal(v.status, 200, v.text);
            assert.equal(v.json.verification.ok, true);
            assert.equal(v.json.status, 'healthy');
            // PATCH with a token that fails: refused, the old one stays
            const p = await api(w.port, 'PATCH', `/api/v1/connections/${gh.json.id}`, admin,
                                { secret: 'ghp_badbadbadbadbadbad' });
            assertError(p, 422, 'CONNECTION_VERIFY_FAILED');
            const one = await api(w.port, 'GET', `/api/v1/connections/${gh.json.id}`, admin);
            assert.equal(one.json.fingerprint, `…${GITHUB.slice(-4)}`);
            assert.equal(one.json.last_used_ms > 0, true);
            assert.deepEqual(one.json.outbox, { pending: 0, failed: 0, delivered: 0, dead: 0 });

            // tenant isolation: org B sees none of it; A's id answers 404 to B
            const lb = await api(w.port, 'GET', '/api/v1/connections', w.B.owner);
            assert.deepEqual(lb.json.data, []);
            assertError(await api(w.port, 'GET', `/api/v1/connections/${c.json.id}`, w.B.owner), 404, 'NOT_FOUND');
            assertError(await api(w.port, 'POST', `/api/v1/connections/${c.json.id}/delete`, w.B.owner, {}),
                        404, 'NOT_FOUND');
            // roles: an agent key may not read or write connections
            assertError(await api(w.port, 'GET', '/api/v1/connections', w.A.agent), 403, 'ROLE_FORBIDDEN');

            // BYOK records on this backend (byok.test.mjs shows them used upstream)
            const pk = await api(w.port, 'PUT', '/api/v1/provider-key', admin, { secret: `sk-${GITHUB}` });
            assert.equal(pk.status, 200, pk.text);
            const pk2 = await api(w.port, 'PUT', '/api/v1/provider-key', admin, { secret: `sk-${NOTION}` });
            assert.equal(pk2.json.id, pk.json.id);
            assert.equal(pk2.json.fingerprint, `…${NOTION.slice(-4)}`);
            assertError(await api(w.port, 'GET', '/api/v1/provider-key', w.B.owner), 404, 'NOT_FOUND');
            assert.equal((await api(w.port, 'DELETE', '/api/v1/provider-key', admin)).status, 200);

            // delete
            const del = await api(w.port, 'POST', `/api/v1/connections/${no.json.id}/delete`, admin, {});
            assert.equal(del.status, 200, del.text);
            assertError(await api(w.port, 'GET', `/api/v1/connections/${no.json.id}`, admin), 404, 'NOT_FOUND');
        } finally {
            await w.stop();
            await rx.close();
        }
    });
}

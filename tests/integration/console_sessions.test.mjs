// console_sessions: the console's sign-in and session cookie over HTTP (docs/CONSOLE.md
// "Security"), on SQLite and PostgreSQL (the sessions table and its definer lookup are per
// backend: migration 12) and on the TLS listener: cookie attributes (HttpOnly, SameSite=Strict,
// Path=/; __Host- and Secure under TLS), agent, operator and malformed keys refused at sign-in,
// a session authorizing exactly as its key, the CSRF token on every state change made with the
// cookie, logout and key revocation ending it, forged and doubled cookies refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { Scope, request, postJson, assertError, initData, configYaml, runCommand } from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';
import { cookieOf } from './lib/console.mjs';

// Sign-in and sessions over HTTP, on both backends (the sessions table and its definer lookup
// are per backend: migration 12).
for (const backend of ['sqlite', 'pg']) describe(`console sessions on ${backend}`, () => {
    const scope = new Scope();
    let w, rev1, rev2, agentKey, admin;

    before(async () => {
        w = await startTenants(scope, backend);
        admin = w.A.admin;
        agentKey = w.A.agent;
        rev1 = await person(w, admin, w.A.org_id, { email: 'ada@a.example', role: 'reviewer' });
        rev2 = await person(w, admin, w.A.org_id, { email: 'bo@a.example', role: 'reviewer' });
    });

    after(async () => {
        await w?.stop();
        await scope.cleanup();
    });

    const login = (key, headers = {}) => request(w.port, {
        method: 'POST', path: '/console/api/login', body: JSON.stringify({ key }),
        headers: { 'content-type': 'application/json', ...headers },
    });

    test('sign-in: a person key gets a strict cookie; agent, operator, malformed keys are refused', async () => {
        const r = await login(rev1.key);
        assert.equal(r.status, 200, r.text);
        const sc = r.headers['set-cookie'];
        const line = Array.isArray(sc) ? sc[0] : sc;
        assert.match(line, /^bw_console=bws_[A-Za-z0-9_-]{43};/);
        assert.match(line, /HttpOnly/);
        assert.match(line, /SameSite=Strict/);
        assert.match(line, /Path=\//);
        assert.doesNotMatch(line, /Domain=/i);
        assert.equal(r.json.role, 'reviewer');
        assert.equal(r.json.member_id, rev1.member_id);
        assert.equal(r.json.email, 'ada@a.example');
        assert.equal(r.json.key_id, rev1.id);
        assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
        assert.ok(r.json.expires_ms - Date.now() <= 8 * 3600 * 1000 + 5000);
        assert.ok(!JSON.stringify(r.json).includes(rev1.key), 'the key is echoed');
        assert.ok(!JSON.stringify(r.json).includes(cookieOf(line).split('=')[1]), 'the token is in the body');

        assertError(await login(agentKey), 403, 'ROLE_FORBIDDEN');
        assertError(await login(w.op), 403, 'ROLE_FORBIDDEN');
        assertError(await login('bwk_' + 'A'.repeat(43)), 401, 'UNAUTHENTICATED');
        assertError(await login('x'.repeat(5000)), 401, 'UNAUTHENTICATED');
        const form = await request(w.port, { method: 'POST', path: '/console/api/login',
            headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${rev1.key}` });
        assert.equal(form.status, 415, form.text);
        assertError(await login(rev1.key, { origin: 'https://evil.example' }), 403, 'ORIGIN_NOT_ALLOWED');
    });

    test('a session authorizes like its key; CSRF on every state change; logout and revocation end it', async () => {
        const r = await login(admin);
        assert.equal(r.status, 200, r.text);
        const cookie = cookieOf(r.headers['set-cookie']);
        const csrf = r.json.csrf_token;
        const withCookie = (method, p, body, headers = {}) => request(w.port, {
            method, path: p, headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
            body: body ? JSON.stringify(body) : undefined,
        });
        const me = await withCookie('GET', '/api/v1/me');
        assert.equal(me.status, 200, me.text);
        // a public route whose view depends on the caller reads the session as its key
        const ready = await withCookie('GET', '/api/v1/security/readiness');
        assert.equal(ready.status, 200, ready.text);
        const keysControl = ready.json.controls.find((c) => c.id === 'keys');
        assert.equal(typeof keysControl.detail, 'string', ready.text);
        const meKey = await api(w.port, 'GET', '/api/v1/me', admin);
        assert.equal(me.json.key_id, meKey.json.key_id, 'the session is not its key');
        assert.equal(me.json.principal, meKey.json.principal);
        // state change without the token, with a wrong one, then with it
        assertError(await withCookie('POST', '/api/v1/members', { email: 'x@a.example', role: 'member' }), 403, 'CSRF_INVALID');
        assertError(await withCookie('POST', '/api/v1/members', { email: 'x@a.example', role: 'member' },
            { 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') }), 403, 'CSRF_INVALID');
        const made = await withCookie('POST', '/api/v1/members', { email: 'x@a.example', role: 'member' }, { 'x-csrf-token': csrf });
        assert.equal(made.status, 201, made.text);
        // another session's token does not fit this one
        const other = await login(admin);
        assertError(await withCookie('DELETE', `/api/v1/members/${made.json.id}`, undefined,
            { 'x-csrf-token': other.json.csrf_token }), 403, 'CSRF_INVALID');
        // a reviewer's session can do what a reviewer key can, nothing more
        const rv = await login(rev2.key);
        const rvCookie = cookieOf(rv.headers['set-cookie']);
        const rvMembers = await request(w.port, { path: '/api/v1/members', headers: { cookie: rvCookie } });
        assertError(rvMembers, 403, 'ROLE_FORBIDDEN');
        // the data plane never takes the cookie
        const chat = await postJson(w.port, '/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
            { headers: { cookie } });
        assert.equal(chat.status, 401, chat.text);
        // logout needs the token too, then the cookie is dead
        assertError(await withCookie('POST', '/console/api/logout', {}), 403, 'CSRF_INVALID');
        const out = await withCookie('POST', '/console/api/logout', {}, { 'x-csrf-token': csrf });
        assert.equal(out.status, 200, out.text);
        assert.match(String(out.headers['set-cookie']), /bw_console=;.*Max-Age=0/);
        assertError(await withCookie('GET', '/api/v1/me'), 401, 'UNAUTHENTICATED');
        const s = await withCookie('GET', '/console/api/session');
        assert.equal(s.status, 200);
        assert.equal(s.json.signed_in, false);
        // revoking the key ends its sessions at once
        const temp = await person(w, admin, w.A.org_id, { email: 'tmp@a.example', role: 'reviewer' });
        const t = await login(temp.key);
        const tCookie = cookieOf(t.headers['set-cookie']);
        assert.equal((await request(w.port, { path: '/api/v1/reviews', headers: { cookie: tCookie } })).status, 200);
        const rk = await api(w.port, 'POST', `/api/v1/keys/${temp.id}/revoke`, admin, {});
        assert.equal(rk.status, 200, rk.text);
        assertError(await request(w.port, { path: '/api/v1/reviews', headers: { cookie: tCookie } }), 401, 'UNAUTHENTICATED');
        // a forged or doubled cookie is no session
        assertError(await request(w.port, { path: '/api/v1/me', headers: { cookie: `bw_console=bws_${'A'.repeat(43)}` } }), 401, 'UNAUTHENTICATED');
        const r2 = await login(admin);
        const c2 = cookieOf(r2.headers['set-cookie']);
        assertError(await request(w.port, { path: '/api/v1/me', headers: { cookie: `${c2}; ${c2}` } }), 401, 'UNAUTHENTICATED');
    });

});

// On the TLS listener the cookie is __Host-bw_console with Secure; the plain listener's name is
// not read there (a cookie set over plain HTTP, or planted by a sibling, is no session).
describe('console sessions on the TLS listener', () => {
    const scope = new Scope();
    let gw, ca;

    const tlsRequest = (o) => new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: gw.tlsPort, method: o.method || 'GET',
                                    path: o.path, headers: o.headers || {}, ca }, (res) => {
            let text = '';
            res.on('data', (d) => { text += d; });
            res.on('end', () => {
                let json = null;
                try { json = JSON.parse(text); } catch { json = null; }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        req.on('error', reject);
        req.end(o.body);
    });

    before(async () => {
        const dir = await scope.tmpdir('bw-it-console-tls-');
        const data = await initData(scope);
        const cert = path.join(data.dir, 'cert.pem'), key = path.join(data.dir, 'key.pem');
        const r = await runCommand('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
            '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1']);
        assert.equal(r.code, 0, r.stderr);
        await fsp.chmod(key, 0o600);
        ca = fs.readFileSync(cert);
        const configPath = path.join(dir, 'config.yaml');
        await fsp.writeFile(configPath, configYaml({ apiKeyEnv: null }) +
            `listen_tls:\n  address: 127.0.0.1:0\n  cert_file: ${cert}\n  key_file: ${key}\n`);
        const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath, '--listen', '127.0.0.1:0']);
        const t = await proc.waitStderr(/bulwark listening with TLS on 127\.0\.0\.1:(\d+)/, 15000);
        gw = { proc, tlsPort: Number(t[1]), keys: data.keys };
    });

    after(async () => { await scope.cleanup(); });

    test('the cookie is __Host- and Secure; only that name is read there', async () => {
        const r = await tlsRequest({ method: 'POST', path: '/console/api/login',
            headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: gw.keys.admin_key }) });
        assert.equal(r.status, 200, r.text);
        const line = String(r.headers['set-cookie']);
        assert.match(line, /^__Host-bw_console=bws_[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
        const value = cookieOf(line).split('=')[1];
        const me = await tlsRequest({ path: '/api/v1/me', headers: { cookie: `__Host-bw_console=${value}` } });
        assert.equal(me.status, 200, me.text);
        const plainName = await tlsRequest({ path: '/api/v1/me', headers: { cookie: `bw_console=${value}` } });
        assertError(plainName, 401, 'UNAUTHENTICATED');
        const page = await tlsRequest({ path: '/console/' });
        assert.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
    });
});

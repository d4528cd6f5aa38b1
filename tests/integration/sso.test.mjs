// sso: OpenID Connect single sign-on to the console (docs/CONSOLE.md "Single sign-on (OpenID
// Connect)"), driven with plain HTTP (fetch, manual redirects, one cookie jar per origin as a
// browser keeps them):
//   - a real identity provider, the `oidc-provider` package on 127.0.0.1 with its development
//     login pages: the owner configures it with PUT /api/v1/sso (the secret never shown again),
//     a member signs in (discovery, PKCE, state, nonce, code exchange, JWKS, ID token) and gets
//     a console session as that member; replayed and foreign states are refused; a person the
//     org does not know gets nothing (or, once the org opts in, a `member` with no privileges);
//     an address the IdP has not verified is refused;
//   - a crafted identity provider (a small node server whose ID tokens the test writes) for what
//     a real one never sends: another nonce, another audience, an expired token, alg none, a
//     key the IdP does not publish;
//   - PUT refusals (an http issuer off loopback, unknown members, claim values, roles), and no
//     client secret, code or token in GET, receipts or the gateway's log.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Provider from 'oidc-provider';
import * as jose from 'jose';
import fsp from 'node:fs/promises';
import { Scope, readLedger, run, configYaml, request } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const SECRET = 'oidc-client-secret-Wq8zR2vX9k';
const CLIENT = 'bulwark-console';

// A browser's cookies for one origin.
class Jar {
    constructor() { this.c = new Map(); }
    take(res) {
        for (const line of res.headers.getSetCookie()) {
            const [pair, ...attrs] = line.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
            const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
            if (gone) this.c.delete(name);
            else this.c.set(name, value);
        }
    }
    header() { return [...this.c].map(([k, v]) => `${k}=${v}`).join('; '); }
}

async function get(url, jar, init = {}) {
    const headers = { ...(init.headers || {}) };
    if (jar && jar.c.size) headers.cookie = jar.header();
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    if (jar) jar.take(res);
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text, res };
}

// ---- the real identity provider ----

const ACCOUNTS = {
    alice: { email: 'Alice@B.example', email_verified: true },   // a member (case differs)
    eve: { email: 'eve@b.example', email_verified: false },      // a member, address unverified
    stranger: { email: 'stranger@b.example', email_verified: true }, // not a member
};

async function startProvider(scope, redirectUri) {
    const server = http.createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const issuer = `http://127.0.0.1:${server.address().port}`;
    const provider = new Provider(issuer, {
        clients: [{
            client_id: CLIENT, client_secret: SECRET, redirect_uris: [redirectUri],
            grant_types: ['authorization_code'], response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
        }],
        findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id, ...(ACCOUNTS[id] || {}) }) }),
        claims: { openid: ['sub'], email: ['email', 'email_verified'] },
        conformIdTokenClaims: false, // the email claims in the ID token itself
        pkce: { required: () => true },
        cookies: { keys: ['sso-test-cookie-key'] },
        features: { devInteractions: { enabled: true } },
    });
    provider.on('server_error', (ctx, err) => console.error('oidc-provider:', err));
    server.on('request', provider.callback());
    return { issuer, server };
}

// Logs `login` in at the provider: follows its redirects and posts its development login and
// consent forms until it sends the browser back to the gateway. Returns that callback URL.
async function loginAt(idp, authorizeUrl, login) {
    const jar = new Jar();
    let url = authorizeUrl;
    for (let hop = 0; hop < 12; hop++) {
        const r = await get(url, jar);
        if (r.status >= 300 && r.status < 400) {
            const next = new URL(r.location, url).href;
            if (!next.startsWith(idp.issuer)) return next;
            url = next;
            continue;
        }
        assert.equal(r.status, 200, `IdP page ${url}: ${r.text.slice(0, 300)}`);
        const action = /action="([^"]+)"/.exec(r.text)[1];
        const prompt = /name="prompt" value="([^"]+)"/.exec(r.text)[1];
        const body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'x' } : { prompt });
        const p = await get(new URL(action, url).href, jar, {
            method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.ok(p.status >= 300 && p.status < 400, `IdP form: ${p.status} ${p.text.slice(0, 300)}`);
        url = new URL(p.location, url).href;
    }
    throw new Error('the identity provider never sent the browser back');
}

// ---- the crafted identity provider: the test writes its ID tokens ----

async function startCrafted() {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
    const other = await jose.generateKeyPair('ES256');
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const c = { mode: 'good', codes: new Map(), issued: [] };
    const server = http.createServer(async (req, res) => {
        const u = new URL(req.url, c.issuer);
        const json = (status, v) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(v));
        };
        c.hits = (c.hits || 0) + 1;
        if (c.hang) return; // never answers (the socket stays open)
        if (u.pathname === '/.well-known/openid-configuration')
            return json(200, {
                issuer: c.issuer, authorization_endpoint: `${c.issuer}/authorize`,
                token_endpoint: `${c.issuer}/token`, jwks_uri: `${c.issuer}/jwks`,
                ...(c.iss ? { authorization_response_iss_parameter_supported: true } : {}),
                ...(c.authPost ? { token_endpoint_auth_methods_supported: ['client_secret_post'] } : {}),
            });
        if (u.pathname === '/jwks') return json(200, { keys: [jwk] });
        if (u.pathname === '/authorize') { // signs the user in at once
            const code = crypto.randomBytes(16).toString('hex');
            c.codes.set(code, Object.fromEntries(u.searchParams));
            const back = new URL(u.searchParams.get('redirect_uri'));
            back.searchParams.set('code', code);
            back.searchParams.set('state', u.searchParams.get('state'));
            if (c.iss === 'same') back.searchParams.set('iss', c.issuer);
            if (c.iss === 'other') back.searchParams.set('iss', 'https://other-idp.example');
            res.writeHead(302, { location: back.href });
            return res.end();
        }
        if (u.pathname === '/token' && req.method === 'POST') {
            let body = '';
            for await (const d of req) body += d;
            const f = new URLSearchParams(body);
            const auth = req.headers.authorization || '';
            const basic = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString();
            const a = c.codes.get(f.get('code'));
            c.codes.delete(f.get('code'));
            const challenge = crypto.createHash('sha256').update(f.get('code_verifier') || '')
                .digest('base64url');
            const client = c.authPost
                ? !auth && f.get('client_id') === CLIENT && f.get('client_secret') === SECRET
                : basic === `${CLIENT}:${SECRET}` && !f.get('client_secret');
            if (!a || !client || challenge !== a.code_challenge ||
                f.get('redirect_uri') !== a.redirect_uri || a.code_challenge_method !== 'S256')
                return json(400, { error: 'invalid_grant' });
            const now = Math.floor(Date.now() / 1000);
            const claims = { sub: 'crafted-alice', email: 'alice@b.example', email_verified: true,
                             nonce: a.nonce };
            let aud = CLIENT, exp = now + 300, iat = now, key = privateKey, kid = 'k1';
            if (c.mode === 'nonce') claims.nonce = 'not-the-nonce-that-was-sent';
            if (c.mode === 'audience') aud = 'another-client';
            if (c.mode === 'expired') { exp = now - 3600; iat = now - 7200; }
            if (c.mode === 'unverified') claims.email_verified = false;
            if (c.mode === 'key') key = other.privateKey;
            let tok;
            if (c.mode === 'none') {
                const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
                tok = `${enc({ alg: 'none' })}.${enc({ ...claims, iss: c.issuer, aud, exp, iat })}.`;
            } else {
                tok = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid })
                    .setIssuer(c.issuer).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp)
                    .sign(key);
            }
            c.issued.push(tok, f.get('code'));
            return json(200, { access_token: 'at-' + crypto.randomBytes(8).toString('hex'),
                               token_type: 'Bearer', expires_in: 60, id_token: tok });
        }
        res.writeHead(404);
        res.end();
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    c.issuer = `http://127.0.0.1:${server.address().port}`;
    c.server = server;
    return c;
}

describe('OpenID Connect single sign-on', () => {
    const scope = new Scope();
    let w, gwBase, idp, crafted, alice, eve;
    before(async () => {
        w = await startTenants(scope, 'sqlite', { yaml: 'egress:\n  allow: [127.0.0.1/32]\n' });
        gwBase = `http://127.0.0.1:${w.port}`;
        idp = await startProvider(scope, `${gwBase}/console/sso/callback`);
        crafted = await startCrafted();
        for (const [email, role] of [['alice@b.example', 'reviewer'], ['eve@b.example', 'admin']]) {
            const m = await api(w.port, 'POST', '/api/v1/members', w.B.owner, { email, role });
            assert.equal(m.status, 201, m.text);
            if (email.startsWith('alice')) alice = m.json.id;
            else eve = m.json.id;
        }
    });
    after(async () => {
        await new Promise((r) => idp.server.close(r));
        await new Promise((r) => crafted.server.close(r));
        await scope.cleanup();
    });

    const configure = (issuer, extra = {}) =>
        api(w.port, 'PUT', '/api/v1/sso', w.B.owner,
            { issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email', ...extra });

    // start: returns {browser jar, authorize URL}.
    async function start() {
        const jar = new Jar();
        const r = await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, jar);
        assert.equal(r.status, 302, r.text);
        assert.ok(jar.c.get('bw_sso'), 'the state cookie is set');
        const set = r.res.headers.getSetCookie().join('\n');
        assert.match(set, /bw_sso=[^;]+; Path=\/console\/sso\/; Max-Age=600; HttpOnly; SameSite=Lax/);
        return { jar, authorize: r.location };
    }

    const callback = (url, jar, accept = 'application/json') =>
        get(url, jar, { headers: { accept } });

    test('PUT refuses bad configurations; only the owner may change it', async () => {
        const cases = [
            [{ issuer: 'http://idp.example.com' }, /https required/],
            [{ issuer: 'http://10.1.2.3' }, /https required/],
            [{ issuer: 'https://u:p@idp.example.com' }, /userinfo/],
            [{ issuer: 'https://idp.example.com/?tenant=1' }, /query/],
            [{ claim: 'name' }, /claim/],
            [{ client_secret: '' }, /client_secret/],
            [{ client_secret: 'has space' }, /client_secret/],
            [{ allow_unknown: 'yes' }, /allow_unknown/],
            [{ extra: 1 }, /unknown member/],
        ];
        for (const [patch, why] of cases) {
            const r = await configure('https://idp.example.com', patch);
            assert.equal(r.status, 400, `${JSON.stringify(patch)}: ${r.text}`);
            assert.match(r.json.error.message, why);
            assert.ok(!r.text.includes(SECRET));
        }
        // GET before any configuration; an admin (org A's) may read, not write
        assert.equal((await api(w.port, 'GET', '/api/v1/sso', w.B.owner)).json.error.code,
                     'SSO_NOT_CONFIGURED');
        const adminPut = await api(w.port, 'PUT', '/api/v1/sso', w.A.admin,
                                   { issuer: idp.issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email' });
        assert.equal(adminPut.status, 403, adminPut.text);
        assert.equal((await api(w.port, 'PUT', '/api/v1/sso', w.A.agent, {})).status, 403);
        // start for an org without SSO, and for no org
        const none = await get(`${gwBase}/console/sso/start?org=${w.A.org_id}`, null);
        assert.equal(none.status, 404);
        assert.equal(JSON.parse(none.text).error.code, 'SSO_NOT_CONFIGURED');
        assert.equal((await get(`${gwBase}/console/sso/start`, null)).status, 400);
        assert.equal((await get(`${gwBase}/console/sso/start?org=${w.B.org_id}&org=${w.A.org_id}`,
                                null)).status, 400);
    });

    test('a member signs in through the real IdP and gets a session as that member', async () => {
        const put = await configure(idp.issuer);
        assert.equal(put.status, 200, put.text);
        assert.match(put.json.receipt_id, /./);
        const g = await api(w.port, 'GET', '/api/v1/sso', w.B.owner);
        assert.equal(g.status, 200, g.text);
        assert.equal(g.json.issuer, idp.issuer);
        assert.equal(g.json.client_id, CLIENT);
        assert.equal(g.json.claim, 'email');
        assert.equal(g.json.allow_unknown, false);
        assert.equal(g.json.redirect_uri, `${gwBase}/console/sso/callback`);
        assert.ok(!g.text.includes(SECRET), 'GET never shows the secret');
        assert.ok(!('client_secret' in g.json));

        const { jar, authorize } = await start();
        const a = new URL(authorize);
        assert.equal(a.origin, idp.issuer);
        assert.equal(a.searchParams.get('response_type'), 'code');
        assert.equal(a.searchParams.get('code_challenge_method'), 'S256');
        assert.match(a.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
        assert.match(a.searchParams.get('state'), /^[A-Za-z0-9_-]{43}$/);
        assert.match(a.searchParams.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
        assert.equal(a.searchParams.get('redirect_uri'), `${gwBase}/console/sso/callback`);
        const back = await loginAt(idp, authorize, 'alice');
        assert.ok(back.startsWith(`${gwBase}/console/sso/callback?`), back);
        const cb = await callback(back, jar);
        assert.equal(cb.status, 302, cb.text);
        assert.equal(cb.location, '/console/');
        const set = cb.res.headers.getSetCookie().join('\n');
        assert.match(set, /bw_console=bws_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict/);
        assert.ok(!jar.c.has('bw_sso'), 'the state cookie is cleared');
        // the session is alice's, as a member session made by SSO
        const db = path.join(w.dir, 'bulwark.db');
        const row = spawnSync('sqlite3', [db, `SELECT member_id, via, key_id FROM console_sessions`],
                              { encoding: 'utf8' }).stdout.trim();
        assert.equal(row, `${alice}|sso|`);
        // an /api/v1 call with that session works as the member
        const me = await get(`${gwBase}/api/v1/me`, jar);
        assert.equal(me.status, 200, me.text);
        const who = JSON.parse(me.text);
        assert.equal(who.org_id ?? who.key?.org_id ?? who.org?.id, w.B.org_id, me.text);
        assert.ok(me.text.includes(alice), me.text);

        // the sign-in has its receipt, principal the member
        assert.ok(readLedger(w.dir).includes(Buffer.from('console.login_sso')));
        // the same callback again: the state was used
        const again = await callback(back, jar);
        assert.equal(again.status, 400);
        assert.equal(JSON.parse(again.text).error.code, 'SSO_STATE_INVALID');
    });

    test('the redirect URI is never built from a Host header a client chose', async () => {
        // no sso.public_url: only a loopback address literal in Host is taken as the origin
        for (const host of ['evil.example', 'evil.example:80', '127.0.0.1.evil.example', 'localhost:1']) {
            const r = await request(w.port, { path: `/console/sso/start?org=${w.B.org_id}`,
                                              headers: { host, accept: 'application/json' } });
            assert.equal(r.status, 503, `${host}: ${r.text}`);
            assert.equal(r.json.error.code, 'SSO_NO_PUBLIC_URL');
            const g = await request(w.port, { path: '/api/v1/sso',
                                              headers: { host, authorization: `Bearer ${w.B.owner}` } });
            assert.equal(g.status, 200, g.text);
            assert.equal(g.json.redirect_uri, null);
        }
        const ok = await request(w.port, { path: '/api/v1/sso',
                                           headers: { host: `[::1]:${w.port}`, authorization: `Bearer ${w.B.owner}` } });
        assert.equal(ok.json.redirect_uri, `http://[::1]:${w.port}/console/sso/callback`);
    });

    test('wrong, foreign and replayed states are refused; the IdP error is shown', async () => {
        const wrong = await callback(`${gwBase}/console/sso/callback?code=x&state=${'A'.repeat(43)}`, new Jar());
        assert.equal(wrong.status, 400);
        assert.equal(JSON.parse(wrong.text).error.code, 'SSO_STATE_INVALID');
        // a browser page gets HTML with the reason as text and a strict CSP
        const page = await callback(`${gwBase}/console/sso/callback?code=x&state=<script>`, new Jar(), 'text/html');
        assert.equal(page.status, 400);
        assert.match(page.res.headers.get('content-type'), /text\/html/);
        assert.equal(page.res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
        assert.match(page.text, /SSO_STATE_INVALID/);
        assert.ok(!page.text.includes('<script>'));

        // started in one browser, finished in another (an attacker's link): refused, and spent
        const { authorize } = await start();
        const back = await loginAt(idp, authorize, 'alice');
        const other = await start(); // the victim's own cookie, another state
        const r = await callback(back, other.jar);
        assert.equal(r.status, 400);
        assert.equal(JSON.parse(r.text).error.code, 'SSO_STATE_INVALID');

        // the IdP's own refusal (the user aborted): 401 with its error code
        const s = await start();
        const st = new URL(s.authorize).searchParams.get('state');
        const e = await callback(`${gwBase}/console/sso/callback?error=access_denied&state=${st}`, s.jar);
        assert.equal(e.status, 401);
        assert.equal(JSON.parse(e.text).error.code, 'SSO_IDP_ERROR');
        assert.match(JSON.parse(e.text).error.message, /access_denied/);
        // a state parameter sent twice is not picked from
        const s2 = await start();
        const st2 = new URL(s2.authorize).searchParams.get('state');
        const dup = await callback(`${gwBase}/console/sso/callback?code=x&state=${st2}&state=${st2}`, s2.jar);
        assert.equal(dup.status, 400);
    });

    test('an unknown person gets nothing; an unverified address is refused', async () => {
        for (const [login, status, code] of [['stranger', 403, 'SSO_UNKNOWN_USER'],
                                             ['eve', 403, 'SSO_EMAIL_UNVERIFIED']]) {
            const { jar, authorize } = await start();
            const back = await loginAt(idp, authorize, login);
            const r = await callback(back, jar);
            assert.equal(r.status, status, `${login}: ${r.text}`);
            assert.equal(JSON.parse(r.text).error.code, code);
            assert.ok(!r.res.headers.getSetCookie().some((c) => c.startsWith('bw_console=')));
        }
        const n = spawnSync('sqlite3', [path.join(w.dir, 'bulwark.db'),
                                        `SELECT count(*) FROM console_sessions WHERE member_id = '${eve}'`],
                            { encoding: 'utf8' }).stdout.trim();
        assert.equal(n, '0');
    });

    test('with allow_unknown, an unknown person becomes a member with no privileges', async () => {
        assert.equal((await configure(idp.issuer, { allow_unknown: true })).status, 200);
        const { jar, authorize } = await start();
        const r = await callback(await loginAt(idp, authorize, 'stranger'), jar);
        assert.equal(r.status, 302, r.text);
        const members = await api(w.port, 'GET', '/api/v1/members', w.B.owner);
        const m = members.json.data.find((x) => x.email === 'stranger@b.example');
        assert.ok(m, members.text);
        assert.equal(m.role, 'member');
        // its creation has an admin receipt
        assert.ok(readLedger(w.dir).includes(Buffer.from('member.create_sso')));
        // the org's own rules still hold: a member may not read the SSO configuration
        const g = await get(`${gwBase}/api/v1/sso`, jar);
        assert.equal(g.status, 403, g.text);
        assert.equal((await configure(idp.issuer)).status, 200); // back to off
    });

    test('ID tokens a real IdP never sends are refused (crafted IdP)', async () => {
        assert.equal((await configure(crafted.issuer)).status, 200);
        const cases = [
            ['good', 302, null],
            ['nonce', 401, 'SSO_NONCE_MISMATCH'],
            ['audience', 401, 'SSO_TOKEN_INVALID'],
            ['expired', 401, 'SSO_TOKEN_INVALID'],
            ['none', 401, 'SSO_TOKEN_INVALID'],
            ['key', 401, 'SSO_TOKEN_INVALID'],
            ['unverified', 403, 'SSO_EMAIL_UNVERIFIED'],
        ];
        for (const [mode, status, code] of cases) {
            crafted.mode = mode;
            const { jar, authorize } = await start();
            const idpRes = await get(authorize, null);
            assert.equal(idpRes.status, 302);
            const r = await callback(idpRes.location, jar);
            assert.equal(r.status, status, `${mode}: ${r.text}`);
            if (code) assert.equal(JSON.parse(r.text).error.code, code, mode);
            if (code) assert.ok(!r.res.headers.getSetCookie().some((c) => c.startsWith('bw_console=')));
        }
        // RFC 9207: the authorization response's iss must be ours when the IdP sends it
        crafted.mode = 'good';
        for (const [iss, status] of [['same', 302], ['other', 401], ['missing', 401]]) {
            crafted.iss = iss;
            const { jar, authorize } = await start();
            const idpRes = await get(authorize, null);
            const r = await callback(idpRes.location, jar);
            assert.equal(r.status, status, `iss ${iss}: ${r.text}`);
            if (status === 401) assert.equal(JSON.parse(r.text).error.code, 'SSO_IDP_ERROR');
        }
        crafted.iss = undefined;
        // an IdP that takes client_secret_post only: the secret goes in the form, not a header
        crafted.authPost = true;
        {
            const { jar, authorize } = await start();
            const r = await callback((await get(authorize, null)).location, jar);
            assert.equal(r.status, 302, `client_secret_post: ${r.text}`);
        }
        crafted.authPost = false;
        // a code the IdP refuses (already used): SSO_IDP_ERROR
        crafted.mode = 'good';
        const { jar, authorize } = await start();
        const idpRes = await get(authorize, null);
        const loc = new URL(idpRes.location);
        loc.searchParams.set('code', 'not-a-code-the-idp-issued');
        const r = await callback(loc.href, jar);
        assert.equal(r.status, 401, r.text);
        assert.equal(JSON.parse(r.text).error.code, 'SSO_IDP_ERROR');
    });

    test('an issuer whose discovery names another issuer, or that the guard refuses', async () => {
        // the crafted IdP's discovery says its own issuer; configured with a trailing path the
        // two differ, and the gateway refuses to go on
        assert.equal((await configure(`${crafted.issuer}/tenant`)).status, 200);
        const r = await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, new Jar());
        assert.equal(r.status, 502, r.text);
        assert.equal(JSON.parse(r.text).error.code, 'SSO_IDP_UNAVAILABLE');
        // loopback on another address than the allowlisted one: the egress guard says no
        assert.equal((await configure(`http://127.0.0.2:${new URL(crafted.issuer).port}`)).status, 200);
        const b = await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, new Jar());
        assert.equal(b.status, 502, b.text);
        assert.match(JSON.parse(b.text).error.message, /egress guard/);
    });

    test('DELETE stops sign-in at once; no secret, code or token in receipts or the log', async () => {
        const d = await api(w.port, 'DELETE', '/api/v1/sso', w.B.owner);
        assert.equal(d.status, 200, d.text);
        assert.equal((await api(w.port, 'DELETE', '/api/v1/sso', w.B.owner)).status, 404);
        const r = await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, null);
        assert.equal(r.status, 404);
        const ledger = readLedger(w.dir);
        const log = w.proc.stderr;
        for (const s of [SECRET, ...crafted.issued]) {
            assert.ok(!ledger.includes(Buffer.from(s)), 'not in receipts');
            assert.ok(!log.includes(s), `not in the log: ${s.slice(0, 12)}`);
        }
        assert.ok(!log.includes('bws_'), 'no session token in the log');
    });
});

// The same store code on PostgreSQL (forced row-level security): configure, sign in through the
// crafted IdP, replay refused, another org sees nothing, delete.
describe('single sign-on on PostgreSQL', () => {
    const scope = new Scope();
    let w, gwBase, crafted;
    before(async () => {
        w = await startTenants(scope, 'pg', { yaml: 'egress:\n  allow: [127.0.0.1/32]\n' });
        gwBase = `http://127.0.0.1:${w.port}`;
        crafted = await startCrafted();
        const m = await api(w.port, 'POST', '/api/v1/members', w.B.owner,
                            { email: 'alice@b.example', role: 'reviewer' });
        assert.equal(m.status, 201, m.text);
    });
    after(async () => {
        await new Promise((r) => crafted.server.close(r));
        await w.stop();
        await scope.cleanup();
    });

    test('configure, sign in, replay, isolation, delete', async () => {
        const put = await api(w.port, 'PUT', '/api/v1/sso', w.B.owner,
                              { issuer: crafted.issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email' });
        assert.equal(put.status, 200, put.text);
        assert.ok(!put.text.includes(SECRET));
        // org A has none: its admin sees 404, not org B's
        const a = await api(w.port, 'GET', '/api/v1/sso', w.A.admin);
        assert.equal(a.status, 404, a.text);
        const jar = new Jar();
        const s = await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, jar);
        assert.equal(s.status, 302, s.text);
        const idpRes = await get(s.location, null);
        const cb = await get(idpRes.location, jar, { headers: { accept: 'application/json' } });
        assert.equal(cb.status, 302, cb.text);
        assert.ok(cb.res.headers.getSetCookie().some((c) => /^bw_console=bws_/.test(c)));
        const again = await get(idpRes.location, jar, { headers: { accept: 'application/json' } });
        assert.equal(again.status, 400);
        assert.equal((await api(w.port, 'DELETE', '/api/v1/sso', w.B.owner)).status, 200);
        assert.equal((await get(`${gwBase}/console/sso/start?org=${w.B.org_id}`, null)).status, 404);
        assert.ok(!w.proc.stderr.includes(SECRET));
    });
});

// Master key rotation re-wraps the sealed client secret like every sealed record
// (docs/SECURITY.md "Master key rotation"): `vault status` counts it, `rotate-master` re-wraps
// it, and sign-in still works under the new key (the secret reaches the IdP's token endpoint).
test('master key rotation re-wraps the sealed SSO client secret', async () => {
    const scope = new Scope();
    const crafted = await startCrafted();
    try {
        const parent = await scope.tmpdir('bw-it-sso-rotate-');
        const dir = path.join(parent, 'data');
        assert.equal((await run(['init', '--data', dir])).code, 0);
        const cli = async (args) => {
            const r = await run(args, { timeoutMs: 30000 });
            assert.equal(r.code, 0, `bulwark ${args.join(' ')}: ${r.stderr}`);
            return JSON.parse(r.stdout.trim().split('\n').pop());
        };
        const b = await cli(['org', 'create', '--data', dir, 'orgb']);
        const cfg = path.join(dir, 'test-config.yaml');
        await fsp.writeFile(cfg, configYaml({ apiKeyEnv: null }) + 'egress:\n  allow: [127.0.0.1/32]\n');
        const gw = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                               { name: 'bulwark serve' });
        const port = Number((await gw.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]);
        const m = await api(port, 'POST', '/api/v1/members', b.owner_key, { email: 'alice@b.example', role: 'reviewer' });
        assert.equal(m.status, 201, m.text);
        const put = await api(port, 'PUT', '/api/v1/sso', b.owner_key,
                              { issuer: crafted.issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email' });
        assert.equal(put.status, 200, put.text);
        const signIn = async () => {
            const jar = new Jar();
            const s = await get(`http://127.0.0.1:${port}/console/sso/start?org=${b.org_id}`, jar);
            assert.equal(s.status, 302, s.text);
            const idpRes = await get(s.location, null);
            return get(idpRes.location, jar, { headers: { accept: 'application/json' } });
        };
        assert.equal((await signIn()).status, 302);
        const before = await cli(['vault', 'status', '--data', dir]);
        assert.deepEqual(before.records, { [before.current]: 2 }, 'the pepper and the SSO secret');
        const keyFile = path.join(parent, 'new.key');
        const newId = (await cli(['vault', 'new-key', '--out', keyFile])).master_id;
        await fsp.copyFile(keyFile, path.join(dir, 'master.key.next'));
        await fsp.chmod(path.join(dir, 'master.key.next'), 0o600);
        gw.kill('SIGHUP');
        await gw.waitStderr(new RegExp(`next master key ${newId} loaded`));
        const ops = path.join(parent, 'ops');
        await cli(['init', '--data', ops, '--master-key', path.join(dir, 'master.key')]);
        const done = await cli(['vault', 'rotate-master', '--data', ops, '--database',
                                path.join(dir, 'bulwark.db'), '--new-key', keyFile]);
        assert.equal(done.rewrapped, 2, JSON.stringify(done));
        assert.deepEqual((await cli(['vault', 'status', '--data', dir])).records, { [newId]: 2 });
        const after = await signIn(); // the crafted IdP checks the client secret it receives
        assert.equal(after.status, 302, after.text);
    } finally {
        await new Promise((r) => crafted.server.close(r));
        await scope.cleanup();
    }
});

// SIGTERM while a sign-in waits for a slow IdP: the fetch is aborted (not left to its 10 s
// timeout), the browser gets its answer, and the gateway exits promptly and cleanly.
test('SIGTERM aborts a sign-in waiting on a hanging IdP', async () => {
    const scope = new Scope();
    const crafted = await startCrafted();
    try {
        const w = await startTenants(scope, 'sqlite', { yaml: 'egress:\n  allow: [127.0.0.1/32]\n' });
        const put = await api(w.port, 'PUT', '/api/v1/sso', w.B.owner,
                              { issuer: crafted.issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email' });
        assert.equal(put.status, 200, put.text);
        crafted.hang = true;
        crafted.hits = 0;
        const pending = get(`http://127.0.0.1:${w.port}/console/sso/start?org=${w.B.org_id}`, null)
            .catch((e) => ({ error: e }));
        const t0 = Date.now();
        while (!crafted.hits && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
        assert.ok(crafted.hits > 0, 'the discovery request reached the IdP');
        const t1 = Date.now();
        w.proc.kill('SIGTERM');
        await w.proc.waitExit(9000);
        assert.ok(Date.now() - t1 < 6000, `exited after ${Date.now() - t1} ms`);
        assert.equal(w.proc.exitCode, 0);
        assert.doesNotMatch(w.proc.stderr, /drain timed out/);
        const r = await pending;
        if (!r.error) assert.equal(r.status, 502);
    } finally {
        crafted.server.closeAllConnections();
        await new Promise((r) => crafted.server.close(r));
        await scope.cleanup();
    }
});

// The public routes read the org's configuration on a store job, never on an event worker:
// with BULWARK_ASSERT_STORE_OFF_WORKER=1 (a worker entering the store aborts the process) a
// start for a configured org and one for an org without SSO are answered and the gateway lives.
test('the SSO start reads the store off the event workers', async () => {
    const scope = new Scope();
    const crafted = await startCrafted();
    try {
        const parent = await scope.tmpdir('bw-it-sso-offworker-');
        const dir = path.join(parent, 'data');
        assert.equal((await run(['init', '--data', dir])).code, 0);
        const created = await run(['org', 'create', '--data', dir, 'orgb']);
        const b = JSON.parse(created.stdout.trim().split('\n').pop());
        const cfg = path.join(dir, 'test-config.yaml');
        await fsp.writeFile(cfg, configYaml({ apiKeyEnv: null }) + 'egress:\n  allow: [127.0.0.1/32]\n');
        const serve = async (env) => {
            const p = scope.spawn(['serve', '--data', dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                                  { name: 'bulwark serve', env });
            return { p, port: Number((await p.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000))[1]) };
        };
        const first = await serve({}); // configuring is an API call, still on a worker today
        const put = await api(first.port, 'PUT', '/api/v1/sso', b.owner_key,
                              { issuer: crafted.issuer, client_id: CLIENT, client_secret: SECRET, claim: 'email' });
        assert.equal(put.status, 200, put.text);
        await first.p.stop(5000);
        const gw = await serve({ BULWARK_ASSERT_STORE_OFF_WORKER: '1' });
        gw.p.sentSignals.add('SIGABRT'); // reported below as a failure, not as a crash
        const s = await get(`http://127.0.0.1:${gw.port}/console/sso/start?org=${b.org_id}`, new Jar());
        assert.equal(s.status, 302, s.text);
        assert.ok(s.location.startsWith(`${crafted.issuer}/authorize?`));
        const none = await get(`http://127.0.0.1:${gw.port}/console/sso/start?org=org_0123456789abcdef`, null);
        assert.equal(none.status, 404, none.text);
        assert.ok(gw.p.alive, `the gateway lives: ${gw.p.stderr.slice(-400)}`);
        assert.doesNotMatch(gw.p.stderr, /called on an event worker/);
    } finally {
        await new Promise((r) => crafted.server.close(r));
        await scope.cleanup();
    }
});

// console: the reviewers' console in a real browser (playwright-core driving Debian's chromium,
// headless, loopback only; docs/CONSOLE.md). Over HTTP first: the console's headers (CSP, frame,
// nosniff, referrer, no-store), the session cookie (HttpOnly, SameSite=Strict, Path=/), agent
// and operator keys refused at sign-in, the CSRF token required on every state-changing call
// made with the cookie, logout and key revocation ending the session. In the browser: a call
// that needs two approvals shows up in the queue with its model and the tool arguments;
// reviewer A approves, reviewer B completes the quorum, the held call then goes through; the
// requester's own login cannot approve (four eyes); a transcript holding <script> and
// <img onerror> renders as text; no console errors; axe-core finds no serious or critical
// violation; a screenshot of each page is saved under build/console-shots/.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import https from 'node:https';
import { Scope, request, postJson, assertError, REPO, initData, configYaml, runCommand } from './lib/harness.mjs';
import { startTenants, api, person } from './lib/tenants.mjs';

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.BULWARK_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(REPO, 'build', 'console-shots');

const POLICY = `version: 1
rules:
  - id: wire-needs-two
    match: {route: chat, content: 'WIRE'}
    effect: require_approval
    approval: {reviewer_role: reviewer, quorum: 2}
  - id: widget
    match: {route: widget}
    effect: allow
  - id: chat
    match: {route: chat}
    effect: allow
`;

const XSS = '<script>window.__bwXss = 1</script><img src=x onerror="window.__bwXss = 2"> hello';

// The held request: it declares a tool and carries a call of it, so the reviewer must see both.
const held = (marker) => JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
        { role: 'user', content: `WIRE 5000 EUR to ACME (${marker})` },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
            function: { name: 'send_wire', arguments: JSON.stringify({ iban: 'DE89370400440532013000', amount_eur: 5000, memo: marker }) } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'pending' },
    ],
    tools: [{ type: 'function', function: { name: 'send_wire', description: 'Sends a bank wire',
        parameters: { type: 'object', properties: { iban: { type: 'string' }, amount_eur: { type: 'number' } } } } }],
});

// A cookie header value from a Set-Cookie line.
const cookieOf = (setCookie) => String(setCookie).split(';')[0];

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

describe('console in a browser', () => {
    const scope = new Scope();
    let w, browser, chromium, axeSource;
    let rev1, rev2, agentKey, admin;
    const consoleErrors = [];

    before(async () => {
        const pdir = await scope.tmpdir('bw-it-console-');
        const policyPath = path.join(pdir, 'policy.yaml');
        await fsp.writeFile(policyPath, POLICY);
        w = await startTenants(scope, 'sqlite', { yaml: `policy: ${policyPath}\n` });
        admin = w.A.admin;
        agentKey = w.A.agent;
        rev1 = await person(w, admin, w.A.org_id, { email: 'ada@a.example', role: 'reviewer' });
        rev2 = await person(w, admin, w.A.org_id, { email: 'bo@a.example', role: 'reviewer' });
        assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh test installs Debian's chromium`);
        ({ chromium } = await import('playwright-core'));
        axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
        browser = await chromium.launch({
            executablePath: CHROMIUM, headless: true,
            // root in a container has no user namespace sandbox; nothing but loopback is loaded
            args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
        });
        await fsp.mkdir(SHOTS, { recursive: true });
    });

    after(async () => {
        await browser?.close();
        await w?.stop();
        await scope.cleanup();
    });

    const base = () => `http://127.0.0.1:${w.port}`;
    const login = (key, headers = {}) => request(w.port, {
        method: 'POST', path: '/console/api/login', body: JSON.stringify({ key }),
        headers: { 'content-type': 'application/json', ...headers },
    });

    test('every console answer carries the security headers; the page has no inline script', async () => {
        for (const p of ['/console/', '/console/app.js', '/console/app.css', '/console/api/session', '/console/nope.js']) {
            const r = await request(w.port, { path: p });
            const csp = r.headers['content-security-policy'];
            assert.ok(csp, `${p}: no CSP`);
            assert.match(csp, /default-src 'self'/);
            assert.match(csp, /frame-ancestors 'none'/);
            assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
            assert.equal(r.headers['x-frame-options'], 'DENY', p);
            assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
            assert.equal(r.headers['referrer-policy'], 'no-referrer', p);
            assert.equal(r.headers['cache-control'], 'no-store', p);
        }
        const page = await request(w.port, { path: '/console/' });
        assert.equal(page.status, 200);
        assert.match(page.headers['content-type'], /^text\/html/);
        assert.doesNotMatch(page.text, /<script>|<script [^>]*>[^<]+<\/script>|\son[a-z]+=|\sstyle=/i);
        assert.ok([400, 404].includes((await request(w.port, { path: '/console/../etc/passwd' })).status));
        assert.ok([400, 404].includes((await request(w.port, { path: '/console/%2e%2e/x' })).status));
        assert.equal((await request(w.port, { method: 'POST', path: '/console/' })).status, 405);
    });

    // A page signed in with key, with console errors and CSP violations collected.
    async function signedInPage(key, label) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${label}: ${m.text()}`); });
        page.on('pageerror', (e) => consoleErrors.push(`${label}: ${e.message}`));
        const resp = await page.goto(`${base()}/console/`);
        assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
        await page.getByTestId('login-key').fill(key);
        await page.getByTestId('login-submit').click();
        await page.getByTestId('logout').waitFor({ state: 'visible' });
        return { context, page };
    }

    async function axe(page, what) {
        await page.evaluate(axeSource);
        const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
            `${what}: accessibility violations`);
    }

    const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

    test('two reviewers approve in the browser, the held call then goes through; four eyes holds', async () => {
        const body = held('m1');
        const first = await postJson(w.port, '/v1/chat/completions', body, { key: agentKey });
        const e = assertError(first, 403, 'APPROVAL_REQUIRED', { receipt: true });
        const id = e.review_id;

        // the login page itself
        const anon = await browser.newContext();
        const lp = await anon.newPage();
        lp.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`login: ${m.text()}`); });
        await lp.goto(`${base()}/console/`);
        await lp.getByTestId('login-key').waitFor();
        await lp.getByTestId('login-sso').waitFor();
        await axe(lp, 'login');
        await shot(lp, 'login');
        await anon.close();

        // reviewer A: sees the item with what would run, approves
        const a = await signedInPage(rev1.key, 'reviewer A');
        const row = a.page.locator(`[data-testid="review-row"][data-review-id="${id}"]`);
        await row.waitFor();
        await row.click();
        const detail = a.page.getByTestId('review-detail');
        await detail.waitFor();
        const text = await detail.innerText();
        for (const want of ['gpt-4o-mini', 'send_wire', 'DE89370400440532013000', '"amount_eur": 5000', 'wire-needs-two', '0 of 2 approvals', w.A.org_id])
            assert.ok(text.includes(want), `the detail lacks ${want}:\n${text}`);
        await axe(a.page, 'reviews');
        await shot(a.page, 'reviews');
        await a.page.getByTestId('review-comment').fill('IBAN matches the vendor file');
        await a.page.getByTestId('review-approve').click();
        await a.page.locator('#review-result.okay').waitFor();
        await a.page.locator('[data-testid="review-detail"] >> text=1 of 2 approvals').waitFor();
        // still held: one approval of two
        const early = await postJson(w.port, '/v1/chat/completions', body, { key: agentKey, headers: { 'bulwark-approval': id } });
        assertError(early, 403, 'APPROVAL_PENDING');

        // reviewer B completes the quorum
        const b = await signedInPage(rev2.key, 'reviewer B');
        await b.page.locator(`[data-testid="review-row"][data-review-id="${id}"]`).click();
        await b.page.getByTestId('review-comment').fill('second pair of eyes: fine');
        await b.page.getByTestId('review-approve').click();
        await b.page.locator('#review-result.okay').waitFor();
        await b.page.locator('#review-status').selectOption('all');
        await b.page.locator(`[data-testid="review-row"][data-review-id="${id}"]`).click();
        const hist = b.page.getByTestId('review-history');
        await hist.locator('li', { hasText: 'approved' }).waitFor();
        const htext = await hist.innerText();
        assert.match(htext, /created/);
        assert.equal((htext.match(/approve by /g) || []).length, 2, htext);
        assert.match(htext, /receipt [0-9a-f]{8}\.\d+/);
        assert.ok(htext.includes(rev1.member_id) && htext.includes(rev2.member_id), htext);
        await shot(b.page, 'review-approved');

        // the held call goes through now, once
        const go = await postJson(w.port, '/v1/chat/completions', body, { key: agentKey, headers: { 'bulwark-approval': id } });
        assert.equal(go.status, 200, go.text);

        // the API gives the detail to reviewers of the org only, never in the list or receipts
        const list = await api(w.port, 'GET', '/api/v1/reviews', rev1.key);
        assert.equal(list.json.reviews.find((x) => x.id === id).detail, undefined);
        assertError(await api(w.port, 'GET', `/api/v1/reviews/${id}`, w.B.owner), 404, 'NOT_FOUND');
        assertError(await api(w.port, 'GET', `/api/v1/reviews/${id}`, agentKey), 403, 'ROLE_FORBIDDEN');
        const ledger = fs.readFileSync(path.join(w.dir, 'ledger', 'log'));
        assert.equal(ledger.indexOf('DE89370400440532013000'), -1, 'tool arguments in the ledger');

        // four eyes: the person behind the agent key signs in and cannot approve its own call
        const meAgent = await api(w.port, 'GET', '/api/v1/me', agentKey);
        const meAdmin = await api(w.port, 'GET', '/api/v1/me', admin);
        assert.equal(meAgent.json.principal, meAdmin.json.principal, 'the test needs the requester\'s own person');
        const second = assertError(await postJson(w.port, '/v1/chat/completions', held('m2'), { key: agentKey }),
            403, 'APPROVAL_REQUIRED', { receipt: true });
        const self = await browser.newContext();
        const sp = await self.newPage(); // its expected 403 is not counted as a console error
        await sp.goto(`${base()}/console/`);
        await sp.getByTestId('login-key').fill(admin);
        await sp.getByTestId('login-submit').click();
        await sp.locator(`[data-testid="review-row"][data-review-id="${second.review_id}"]`).click();
        await sp.getByTestId('review-comment').fill('my own call, looks fine to me');
        await sp.getByTestId('review-approve').click();
        await sp.locator('#review-result.error', { hasText: 'REVIEW_SELF_APPROVAL' }).waitFor();
        const still = await api(w.port, 'GET', `/api/v1/reviews/${second.review_id}`, rev1.key);
        assert.equal(still.json.status, 'pending');
        assert.equal(still.json.approvals, 0);
        await shot(sp, 'review-four-eyes');
        await self.close();

        // reviewer A denies it in the browser: one denying vote denies, the call stays refused
        await a.page.locator('#review-status').selectOption('all');
        await a.page.locator(`[data-testid="review-row"][data-review-id="${second.review_id}"]`).click();
        await a.page.getByTestId('review-comment').fill('not on this vendor list');
        await a.page.getByTestId('review-deny').click();
        await a.page.locator('#review-result.okay', { hasText: 'denied' }).waitFor();
        await a.page.getByTestId('review-history').locator('li', { hasText: 'denied' }).waitFor();
        const denied = await postJson(w.port, '/v1/chat/completions', held('m2'),
            { key: agentKey, headers: { 'bulwark-approval': second.review_id } });
        assertError(denied, 403, 'APPROVAL_DENIED');
        await a.context.close();
        await b.context.close();
    });

    test('transcripts render as text; usage, access and posture pages load; no console errors', async () => {
        const agents = await api(w.port, 'GET', '/api/v1/agents', admin);
        const agent = agents.json.data[0];
        await api(w.port, 'PATCH', `/api/v1/agents/${agent.id}`, admin, { model: 'gpt-4o-mini' });
        const en = await api(w.port, 'POST', `/api/v1/agents/${agent.id}/widget`, admin,
            { enabled: true, origins: ['https://shop.example'] });
        assert.equal(en.status, 200, en.text);
        const wr = await request(w.port, { method: 'POST', path: `/widget/v1/${en.json.widget.public_key}/chat`,
            headers: { 'content-type': 'application/json', origin: 'https://shop.example' },
            body: JSON.stringify({ message: XSS }) });
        assert.equal(wr.status, 200, wr.text);

        const { context, page } = await signedInPage(admin, 'admin');
        await page.getByTestId('nav-transcripts').click();
        const rows = page.getByTestId('transcript-row');
        await rows.first().waitFor();
        const all = await rows.allInnerTexts();
        assert.ok(all.some((t) => t.includes('<script>window.__bwXss = 1</script>') && t.includes('<img src=x onerror=')), all.join('\n'));
        assert.equal(await page.locator('[data-testid="transcript-row"] img, [data-testid="transcript-row"] script').count(), 0);
        assert.equal(await page.evaluate(() => window.__bwXss), undefined, 'the transcript ran');
        await page.locator('[data-testid="transcript-row"] >> text=decision: allow').first().waitFor();
        await axe(page, 'transcripts');
        await shot(page, 'transcripts');

        await page.getByTestId('nav-usage').click();
        await page.getByTestId('usage-chart').waitFor();
        const [csv] = await Promise.all([page.waitForEvent('download'),
            page.getByRole('button', { name: 'Download CSV (by day)' }).click()]);
        assert.match(csv.suggestedFilename(), /^usage-\d{4}-\d{2}\.csv$/);
        const csvText = await fsp.readFile(await csv.path(), 'utf8');
        assert.match(csvText, /^group,calls,prompt_tokens,completion_tokens,total_tokens,cost_micros\r\n/);
        await axe(page, 'usage');
        await shot(page, 'usage');

        await page.getByTestId('nav-access').click();
        await page.locator('#key-role').waitFor();
        await axe(page, 'access');
        await shot(page, 'access');
        // a key made in the console is shown once, then never again; revoking asks first
        await page.locator('#key-role').selectOption('reviewer');
        await page.locator('#key-name').fill('console-made');
        await page.getByRole('button', { name: 'Create' }).click();
        const made = await page.locator('#new-key').inputValue();
        assert.match(made, /^bwk_[A-Za-z0-9_-]{43}$/);
        const meAdmin = await api(w.port, 'GET', '/api/v1/me', admin);
        const listed = await api(w.port, 'GET', '/api/v1/keys', admin);
        const row = listed.json.data.find((k) => k.name === 'console-made');
        assert.equal(row.created_by, meAdmin.json.key_id, 'a console-made key is the signed-in key\'s');
        assert.equal(row.principal, meAdmin.json.principal);
        await page.getByRole('button', { name: 'I have copied it' }).click();
        await page.locator('#new-key').waitFor({ state: 'detached' });
        assert.ok(!(await page.content()).includes(made), 'the key is still on the page');
        page.once('dialog', (d) => d.accept());
        await page.locator('tr', { hasText: 'console-made' }).getByRole('button', { name: 'Revoke' }).click();
        await page.locator('#access-msg .okay', { hasText: 'revoked' }).waitFor();
        const after = await api(w.port, 'GET', `/api/v1/keys/${row.id}`, admin);
        assert.equal(after.json.status, 'revoked');

        await page.getByTestId('nav-posture').click();
        await page.getByTestId('readiness-status').waitFor();
        const rid = wr.headers['bulwark-receipt-id'];
        await page.locator('#receipt-id').fill(rid);
        await page.getByRole('button', { name: 'Look up' }).click();
        await page.locator('#receipt-out pre', { hasText: 'bulwark verify --trust' }).waitFor();
        const [pack] = await Promise.all([page.waitForEvent('download'),
            page.getByRole('button', { name: 'Download evidence pack' }).click()]);
        assert.equal(pack.suggestedFilename(), 'evidence.tar');
        const packBytes = await fsp.readFile(await pack.path());
        assert.ok(packBytes.length > 1024 && packBytes.subarray(257, 262).toString() === 'ustar', 'not a tar');
        await axe(page, 'posture');
        await shot(page, 'posture');

        await page.getByTestId('logout').click();
        await page.getByTestId('login-key').waitFor({ state: 'visible' });
        await context.close();
        assert.deepEqual(consoleErrors, [], 'console errors or CSP violations');
    });
});

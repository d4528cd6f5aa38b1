// console: the reviewers' console in a real browser (playwright-core driving Debian's chromium,
// headless, loopback only; docs/CONSOLE.md). The console's headers (CSP, frame, nosniff,
// referrer, no-store) on every answer; a call that needs two approvals shows up in the queue
// with its model and the tool arguments; reviewer A approves, reviewer B completes the quorum,
// the held call then goes through once; the requester's own login cannot approve (four eyes); a
// denial in the browser keeps a call refused; no console error or CSP violation; axe-core finds
// no serious or critical violation; screenshots under build/console-shots/. Sign-in and the
// session cookie over HTTP: console_sessions.test.mjs; the other pages: console_pages.test.mjs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, request, postJson, assertError } from './lib/harness.mjs';
import { api } from './lib/tenants.mjs';
import { startConsoleWorld, signedInPage, axe, shot, held } from './lib/console.mjs';

describe('console in a browser: the review queue', () => {
    const scope = new Scope();
    let world, w, rev1, rev2, agentKey, admin;

    before(async () => {
        world = await startConsoleWorld(scope);
        ({ w, rev1, rev2 } = world);
        admin = w.A.admin;
        agentKey = w.A.agent;
    });

    after(async () => {
        await world?.close();
        await scope.cleanup();
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

    test('two reviewers approve in the browser, the held call then goes through; four eyes holds', async () => {
        const body = held('m1');
        const first = await postJson(w.port, '/v1/chat/completions', body, { key: agentKey });
        const e = assertError(first, 403, 'APPROVAL_REQUIRED', { receipt: true });
        const id = e.review_id;

        // the login page itself
        const anon = await world.browser.newContext();
        const lp = await anon.newPage();
        lp.on('console', (m) => { if (m.type() === 'error') world.errors.push(`login: ${m.text()}`); });
        await lp.goto(`${world.base()}/console/`);
        await lp.getByTestId('login-key').waitFor();
        await lp.getByTestId('login-sso').waitFor();
        await axe(world, lp, 'login');
        await shot(lp, 'login');
        await anon.close();

        // reviewer A: sees the item with what would run, approves
        const a = await signedInPage(world, rev1.key, 'reviewer A');
        const row = a.page.locator(`[data-testid="review-row"][data-review-id="${id}"]`);
        await row.waitFor();
        await row.click();
        const detail = a.page.getByTestId('review-detail');
        await detail.waitFor();
        const text = await detail.innerText();
        for (const want of ['gpt-4o-mini', 'send_wire', 'DE89370400440532013000', '"amount_eur": 5000', 'wire-needs-two', '0 of 2 approvals', w.A.org_id])
            assert.ok(text.includes(want), `the detail lacks ${want}:\n${text}`);
        await axe(world, a.page, 'reviews');
        await shot(a.page, 'reviews');
        await a.page.getByTestId('review-comment').fill('IBAN matches the vendor file');
        await a.page.getByTestId('review-approve').click();
        await a.page.locator('#review-result.okay').waitFor();
        await a.page.locator('[data-testid="review-detail"] >> text=1 of 2 approvals').waitFor();
        // still held: one approval of two
        const early = await postJson(w.port, '/v1/chat/completions', body, { key: agentKey, headers: { 'bulwark-approval': id } });
        assertError(early, 403, 'APPROVAL_PENDING');

        // reviewer B completes the quorum
        const b = await signedInPage(world, rev2.key, 'reviewer B');
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
        const self = await world.browser.newContext();
        const sp = await self.newPage(); // its expected 403 is not counted as a console error
        await sp.goto(`${world.base()}/console/`);
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

    test('no console errors or CSP violations on the review pages', () => {
        assert.deepEqual(world.errors, []);
    });
});

// console_pages: the console's other pages in a real browser (docs/CONSOLE.md "Pages"): a
// transcript holding <script> and <img onerror> renders as text (nothing runs, no element is
// made) with each message's decision and receipt id; usage charts and the CSV download; access
// (a key made in the console is shown once and is the signed-in key's; revoking asks first);
// posture (readiness, a receipt with its proof and the verify command, the evidence pack);
// sign-out; no console error or CSP violation; axe-core on each page; screenshots.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { Scope, request } from './lib/harness.mjs';
import { api } from './lib/tenants.mjs';
import { startConsoleWorld, signedInPage, axe, shot, XSS } from './lib/console.mjs';

describe('console in a browser: transcripts, usage, access, posture', () => {
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

        const { context, page } = await signedInPage(world, admin, 'admin');
        await page.getByTestId('nav-transcripts').click();
        const rows = page.getByTestId('transcript-row');
        await rows.first().waitFor();
        const all = await rows.allInnerTexts();
        assert.ok(all.some((t) => t.includes('<script>window.__bwXss = 1</script>') && t.includes('<img src=x onerror=')), all.join('\n'));
        assert.equal(await page.locator('[data-testid="transcript-row"] img, [data-testid="transcript-row"] script').count(), 0);
        assert.equal(await page.evaluate(() => window.__bwXss), undefined, 'the transcript ran');
        await page.locator('[data-testid="transcript-row"] >> text=decision: allow').first().waitFor();
        await axe(world, page, 'transcripts');
        await shot(page, 'transcripts');

        await page.getByTestId('nav-usage').click();
        await page.getByTestId('usage-chart').waitFor();
        const [csv] = await Promise.all([page.waitForEvent('download'),
            page.getByRole('button', { name: 'Download CSV (by day)' }).click()]);
        assert.match(csv.suggestedFilename(), /^usage-\d{4}-\d{2}\.csv$/);
        const csvText = await fsp.readFile(await csv.path(), 'utf8');
        assert.match(csvText, /^group,calls,prompt_tokens,completion_tokens,total_tokens,cost_micros\r\n/);
        await axe(world, page, 'usage');
        await shot(page, 'usage');

        await page.getByTestId('nav-access').click();
        await page.locator('#key-role').waitFor();
        await axe(world, page, 'access');
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
        await axe(world, page, 'posture');
        await shot(page, 'posture');

        await page.getByTestId('logout').click();
        await page.getByTestId('login-key').waitFor({ state: 'visible' });
        await context.close();
        assert.deepEqual(world.errors, [], 'console errors or CSP violations');
    });
});

// console.mjs: what the console's browser tests share (docs/CONSOLE.md "Tests in a real
// browser"): a gateway whose policy holds calls for two reviewers, two reviewer people, Debian's
// chromium driven by playwright-core (no browser download; loopback only), pages signed in with
// a key with their console errors collected, axe-core, and screenshots under build/console-shots.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO } from './harness.mjs';
import { startTenants, person } from './tenants.mjs';

const require = createRequire(import.meta.url);
export const CHROMIUM = process.env.BULWARK_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'build', 'console-shots');

export const POLICY = `version: 1
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

export const XSS = '<script>window.__bwXss = 1</script><img src=x onerror="window.__bwXss = 2"> hello';

// The held request: it declares a tool and carries a call of it, so the reviewer must see both.
export const held = (marker) => JSON.stringify({
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
export const cookieOf = (setCookie) => String(setCookie).split(';')[0];

// A gateway (SQLite) with POLICY, reviewers ada and bo, and a headless chromium:
// {w, browser, axeSource, rev1, rev2, errors, base(), close()}.
export async function startConsoleWorld(scope) {
    const pdir = await scope.tmpdir('bw-it-console-');
    const policyPath = path.join(pdir, 'policy.yaml');
    await fsp.writeFile(policyPath, POLICY);
    const w = await startTenants(scope, 'sqlite', { yaml: `policy: ${policyPath}\n` });
    const rev1 = await person(w, w.A.admin, w.A.org_id, { email: 'ada@a.example', role: 'reviewer' });
    const rev2 = await person(w, w.A.admin, w.A.org_id, { email: 'bo@a.example', role: 'reviewer' });
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh test installs Debian's chromium`);
    const { chromium } = await import('playwright-core');
    const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    const browser = await chromium.launch({
        executablePath: CHROMIUM, headless: true,
        // root in a container has no user namespace sandbox; nothing but loopback is loaded
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    await fsp.mkdir(SHOTS, { recursive: true });
    const errors = [];
    return {
        w, browser, axeSource, rev1, rev2, errors,
        base: () => `http://127.0.0.1:${w.port}`,
        close: async () => {
            await browser.close();
            await w.stop();
        },
    };
}

// A page signed in with key, its console errors and CSP violations collected into world.errors.
export async function signedInPage(world, key, label) {
    const context = await world.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') world.errors.push(`${label}: ${m.text()}`); });
    page.on('pageerror', (e) => world.errors.push(`${label}: ${e.message}`));
    const resp = await page.goto(`${world.base()}/console/`);
    assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
    await page.getByTestId('login-key').fill(key);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('logout').waitFor({ state: 'visible' });
    return { context, page };
}

// axe-core on the page as it is: no serious or critical violation.
export async function axe(world, page, what) {
    await page.evaluate(world.axeSource);
    const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
        `${what}: accessibility violations`);
}

export const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

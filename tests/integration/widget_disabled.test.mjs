// Scenario: the widget is off until an org turns it on. The default agent's widget answers 404
// WIDGET_DISABLED; an unknown key, a malformed key and a disabled widget get byte-identical
// answers (a key's existence is not revealed), for POST and for the preflight; nothing reaches
// the upstream and no receipt is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startMock, assertError, receipts, waitFor, request } from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, disableWidget, newWidgetKey, widgetPost, widgetPreflight, sql,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock);
});

// The parts of an answer a client can see, minus the Date header.
const visible = (r) => {
    const { date, ...headers } = r.headers;
    return { status: r.status, headers, text: r.text };
};

test('agents start with the widget disabled and no key', async () => {
    const rows = await sql(gw, 'SELECT widget_enabled, widget_key FROM agents');
    assert.ok(rows.length >= 1);
    for (const r of rows) {
        assert.equal(r.widget_enabled, 0);
        assert.equal(r.widget_key, null);
    }
});

test('unknown, malformed and disabled keys get the same 404 WIDGET_DISABLED', async () => {
    const { key } = await enableWidget(gw);
    await disableWidget(gw); // disabled before the gateway ever saw it: nothing cached
    const keys = { disabled: key, unknown: newWidgetKey(), malformed: 'bwp_short',
                   apiKey: gw.keys.agent_key };
    const answers = {};
    for (const [what, k] of Object.entries(keys)) {
        const r = await widgetPost(gw.port, k, { message: 'hello' });
        assertError(r, 404, 'WIDGET_DISABLED', { receipt: false });
        assert.equal(r.headers['access-control-allow-origin'], undefined, what);
        assert.equal(r.headers['bulwark-receipt-id'], undefined, what);
        answers[what] = visible(r);
        const p = await widgetPreflight(gw.port, k);
        assertError(p, 404, 'WIDGET_DISABLED', { receipt: false });
        assert.equal(p.headers['access-control-allow-origin'], undefined, what);
        answers[`${what} preflight`] = visible(p);
    }
    for (const [what, a] of Object.entries(answers))
        assert.deepEqual(a, answers[what.endsWith('preflight') ? 'disabled preflight' : 'disabled'],
                         `${what} differs from a disabled widget's answer`);
    assert.equal((await mock.stats()).requests, 0, 'a disabled widget reached the upstream');
    assert.equal(receipts(gw.dir).length, 0, 'a disabled widget wrote receipts');
});

test('turning the widget off stops it (within the cache lifetime of 1 s)', async () => {
    const { key } = await enableWidget(gw);
    const ok = await widgetPost(gw.port, key, { message: 'hello' });
    assert.equal(ok.status, 200, ok.text);
    await disableWidget(gw);
    // This change bypassed the gateway (SQL), so only the cache's TTL bounds it.
    const r = await waitFor(async () => {
        const x = await widgetPost(gw.port, key, { message: 'hello' });
        return x.status === 404 ? x : null;
    }, { timeoutMs: 3000, intervalMs: 100, what: 'the disabled widget to answer 404' });
    assertError(r, 404, 'WIDGET_DISABLED', { receipt: false });
});

test('other paths under /widget/ are 404 NOT_FOUND, other methods 405', async () => {
    const { key } = await enableWidget(gw);
    for (const p of [`/widget/v1/${key}`, `/widget/v1/${key}/chat/x`, '/widget/', `/widget/v2/${key}/chat`]) {
        const r = await widgetPost(gw.port, 'x', {}, { path: p });
        assertError(r, 404, 'NOT_FOUND', { receipt: false });
    }
    const g = await request(gw.port, {
        path: `/widget/v1/${key}/chat`, headers: { origin: 'https://shop.example' } });
    assertError(g, 405, 'METHOD_NOT_ALLOWED', { receipt: false });
    assert.equal(g.headers.allow, 'POST, OPTIONS');
});

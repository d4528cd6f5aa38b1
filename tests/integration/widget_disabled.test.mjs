// Scenario: the widget is off until an org turns it on. The default agent's widget answers 404
// WIDGET_DISABLED; an unknown key, a malformed key and a disabled widget get byte-identical
// answers (a key's existence is not revealed), for POST and for the preflight; nothing reaches
// the upstream and no receipt is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startMock, assertError, request } from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, disableWidget, newWidgetKey, widgetPost, widgetPreflight,
    adminApi, setWidget, widgetReceipts,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock, { // many calls here: no widget rate limit
        extraYaml: 'widget:\n  requests_per_minute: 0\n' });
});

// The parts of an answer a client can see, minus the Date header and the per-request
// x-request-id (fresh random on every response, so it tells nothing about the key).
const visible = (r) => {
    const { date, 'x-request-id': requestId, ...headers } = r.headers;
    assert.match(String(requestId), /^[0-9a-f]{16}$/);
    return { status: r.status, headers, text: r.text };
};

test('agents start with the widget disabled and no key', async () => {
    const r = await adminApi(gw, 'POST', '/api/v1/agents', { name: 'fresh', model: 'gpt-4o' });
    assert.equal(r.status, 201, r.text);
    const list = await adminApi(gw, 'GET', '/api/v1/agents');
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.data.length >= 2);
    for (const a of list.json.data) {
        assert.equal(a.widget.enabled, false, a.name);
        assert.equal(a.widget.public_key ?? null, null, a.name);
    }
});

test('unknown, malformed and disabled keys get the same 404 WIDGET_DISABLED', async () => {
    const { key } = await enableWidget(gw);
    await disableWidget(gw);
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
    assert.equal(widgetReceipts(gw).length, 0, 'a disabled widget wrote receipts');
});

test('turning the widget off, or a new key, takes effect at once', async () => {
    const { key, agent } = await enableWidget(gw);
    // several calls, so both workers have the agent in their caches
    for (let i = 0; i < 4; i++)
        assert.equal((await widgetPost(gw.port, key, { message: 'hello' })).status, 200);
    await disableWidget(gw);
    for (let i = 0; i < 4; i++)
        assertError(await widgetPost(gw.port, key, { message: 'hello' }), 404, 'WIDGET_DISABLED',
                    { receipt: false });
    // enabled again: the same key (no rotation asked for)
    const again = await setWidget(gw, agent.id, { enabled: true });
    assert.equal(again.widget.public_key, key);
    for (let i = 0; i < 4; i++)
        assert.equal((await widgetPost(gw.port, key, { message: 'hello' })).status, 200);
    const rotated = await setWidget(gw, agent.id, { enabled: true, rotate_key: true });
    assert.notEqual(rotated.widget.public_key, key);
    for (let i = 0; i < 4; i++) {
        assertError(await widgetPost(gw.port, key, { message: 'hello' }), 404, 'WIDGET_DISABLED',
                    { receipt: false });
        assert.equal((await widgetPost(gw.port, rotated.widget.public_key, { message: 'hi' })).status,
                     200);
    }
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

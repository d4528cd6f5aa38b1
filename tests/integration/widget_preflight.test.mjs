// Scenario: the CORS preflight (OPTIONS). For a listed origin asking for POST with at most a
// Content-Type header: 204 with Access-Control-Allow-Origin (that origin), -Methods POST,
// -Headers Content-Type, a Max-Age and Vary: Origin. Another origin is 403; asking for another
// method or for other headers (Authorization: the widget takes no credentials) is 400. A
// preflight is never a call: nothing forwarded, no receipt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startMock, assertError } from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, widgetPreflight, widgetReceipts, ORIGIN,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock);
    ({ key } = await enableWidget(gw));
});

test('a listed origin gets the preflight answer', async () => {
    for (const headers of ['content-type', 'Content-Type', null]) {
        const r = await widgetPreflight(gw.port, key, { headers });
        assert.equal(r.status, 204, r.text);
        assert.equal(r.body.length, 0);
        assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
        assert.equal(r.headers['access-control-allow-methods'], 'POST');
        assert.equal(r.headers['access-control-allow-headers'], 'Content-Type');
        assert.ok(Number(r.headers['access-control-max-age']) > 0);
        assert.match(String(r.headers.vary), /Origin/);
        assert.equal(r.headers['access-control-allow-credentials'], undefined);
    }
});

test('another origin is 403, another method or header 400', async () => {
    const o = await widgetPreflight(gw.port, key, { origin: 'https://evil.example' });
    assertError(o, 403, 'ORIGIN_NOT_ALLOWED', { receipt: false });
    assert.equal(o.headers['access-control-allow-origin'], undefined);
    for (const [method, headers] of [['PUT', 'content-type'], ['GET', null], [null, null],
                                     ['POST', 'authorization'], ['POST', 'content-type, x-model']]) {
        const r = await widgetPreflight(gw.port, key, { method, headers });
        assertError(r, 400, 'INVALID_REQUEST', { receipt: false });
        assert.equal(r.headers['access-control-allow-methods'], undefined);
    }
    assert.equal((await mock.stats()).requests, 0);
    assert.equal(widgetReceipts(gw).length, 0);
});

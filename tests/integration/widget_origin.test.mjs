// Scenario: CORS for the widget. Only an Origin the org listed is answered, exactly as listed:
// another site, another scheme or port of the same host, "null" (sandboxed pages), and a
// request with no Origin at all (not a browser) are refused 403 ORIGIN_NOT_ALLOWED without an
// Access-Control-Allow-Origin header; nothing is forwarded, stored or receipted. Never `*`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startMock, assertError } from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, widgetPost, transcripts, widgetReceipts, ORIGIN,
    adminApi, agentByName,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock);
    ({ key } = await enableWidget(gw, { origins: [ORIGIN] }));
});

test('origins not on the list, and no origin, are refused before anything happens', async () => {
    const refused = ['https://evil.example', 'http://shop.example', 'https://shop.example:8443',
                     'https://sub.shop.example', 'https://shop.example.evil.example', 'null',
                     'HTTPS://SHOP.EXAMPLE', '*', null];
    for (const origin of refused) {
        const r = await widgetPost(gw.port, key, { message: 'hello' }, { origin });
        assertError(r, 403, 'ORIGIN_NOT_ALLOWED', { receipt: false });
        assert.equal(r.headers['access-control-allow-origin'], undefined, `ACAO for ${origin}`);
        assert.match(String(r.headers.vary), /Origin/);
    }
    assert.equal((await mock.stats()).requests, 0, 'a refused origin reached the upstream');
    assert.equal(widgetReceipts(gw).length, 0);
    assert.equal((await transcripts(gw)).length, 0);
});

test('the listed origin is echoed exactly, never *', async () => {
    const r = await widgetPost(gw.port, key, { message: 'hello' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
    assert.match(String(r.headers.vary), /Origin/);
});

test('only origins in the form a browser sends can be listed', async () => {
    const a = await agentByName(gw);
    const refused = ['https://Shop.example', 'HTTPS://shop.example', 'https://shop.example/',
                     'https://shop.example.', 'https://shop.example/path', 'https://shop.example?q=1',
                     'https://user@shop.example', 'https://*.shop.example', '*',
                     'https://shop.example:443', 'http://shop.example:80', 'https://shop.example:0',
                     'https://shop.example:080', 'https://shop.example:65536', 'ftp://shop.example',
                     'https://b\u00fccher.example', 'https://shop..example', 'http://1.2.3',
                     'http://[0:0:0:0:0:0:0:1]', 'null'];
    for (const origin of refused) {
        const r = await adminApi(gw, 'POST', `/api/v1/agents/${a.id}/widget`,
                                 { enabled: true, origins: [ORIGIN, origin] });
        assertError(r, 400, 'INVALID_REQUEST', { receipt: false });
    }
    // the list in force is unchanged, and well-formed origins are accepted
    const good = [ORIGIN, 'http://localhost:3000', 'https://xn--bcher-kva.example:8443',
                  'http://127.0.0.1:8080', 'http://[::1]:8080'];
    const r = await adminApi(gw, 'POST', `/api/v1/agents/${a.id}/widget`, { enabled: true, origins: good });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.widget.origins, good);
});

// Scenario: the widget is rate-limited per widget key (widget.requests_*) and per agent
// (limits.agent_requests_*, shared with the agent's API keys). Past the burst: 429
// RATE_LIMITED with Retry-After and a deny receipt; nothing forwarded, nothing stored; the CORS
// headers are there so the page can read the refusal.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, assertError, assertDecision, receiptAt, predicate, postJson, chatBody,
} from './lib/harness.mjs';
import { startWidgetGateway, enableWidget, widgetPost, transcripts, ORIGIN } from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

async function refusedAfter(gw, mock, key, n) {
    for (let i = 0; i < n; i++) {
        const r = await widgetPost(gw.port, key, { message: `hello ${i}` });
        assert.equal(r.status, 200, `call ${i}: ${r.text}`);
    }
    await mock.reset();
    const before = (await transcripts(gw)).length;
    const r = await widgetPost(gw.port, key, { message: 'one too many' });
    assertError(r, 429, 'RATE_LIMITED', { receipt: true });
    assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    const d = predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys)));
    assert.equal(d.reason, 'RATE_LIMITED');
    assert.equal(d.route, 'widget');
    assert.equal((await mock.stats()).requests, 0, 'a refused call reached the upstream');
    assert.equal((await transcripts(gw)).length, before, 'a refused message was stored');
}

test('per widget key: the burst, then 429', async () => {
    const mock = await startMock(scope);
    const gw = await startWidgetGateway(scope, mock, {
        extraYaml: 'widget:\n  requests_per_minute: 1\n  requests_burst: 3\n' });
    const { key } = await enableWidget(gw);
    await refusedAfter(gw, mock, key, 3);
    // the agent's API key has its own (unlimited) bucket
    const api = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assert.equal(api.status, 200, api.text);
});

test('per agent: the widget and the agent API key share the agent bucket', async () => {
    const mock = await startMock(scope);
    const gw = await startWidgetGateway(scope, mock, {
        limitsLines: '  agent_requests_per_minute: 1\n  agent_requests_burst: 3\n',
        extraYaml: 'widget:\n  requests_per_minute: 0\n' });
    const { key } = await enableWidget(gw);
    const api = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assert.equal(api.status, 200, api.text);
    await refusedAfter(gw, mock, key, 2);
    const apiAfter = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: gw.keys.agent_key });
    assertError(apiAfter, 429, 'RATE_LIMITED', { receipt: true });
});

// Scenario: the widget's calls are decided like any other. A model the org may not use is
// denied (403 MODEL_NOT_ALLOWED with a deny receipt, route "widget"); a rule-engine policy can
// deny route "widget"; an agent with no model and no widget.model is 503. A denied message is
// neither forwarded nor stored.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
    Scope, startMock, assertError, assertDecision, receiptAt, predicate, postJson, chatBody,
} from './lib/harness.mjs';
import { startWidgetGateway, enableWidget, widgetPost, transcripts, ORIGIN } from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

test('a model outside allowed_models: 403 MODEL_NOT_ALLOWED with a deny receipt', async () => {
    const mock = await startMock(scope);
    const gw = await startWidgetGateway(scope, mock);
    const { key } = await enableWidget(gw, { model: 'gpt-5-secret' });
    const r = await widgetPost(gw.port, key, { message: 'hello' });
    assertError(r, 403, 'MODEL_NOT_ALLOWED', { receipt: true });
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    const d = predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys)));
    assert.equal(d.route, 'widget');
    assert.equal(d.model, 'gpt-5-secret');
    assert.equal((await mock.stats()).requests, 0);
    assert.equal((await transcripts(gw)).length, 0);
});

test('no model anywhere: 503, nothing forwarded', async () => {
    const mock = await startMock(scope);
    const gw = await startWidgetGateway(scope, mock);
    const { key } = await enableWidget(gw, { model: '' });
    const r = await widgetPost(gw.port, key, { message: 'hello' });
    assertError(r, 503, 'INTERNAL', { receipt: false });
    assert.equal((await mock.stats()).requests, 0);
});

test('a policy rule on route "widget" decides widget calls only', async () => {
    const mock = await startMock(scope);
    const dir = await scope.tmpdir();
    const policy = path.join(dir, 'policy.yaml');
    await fsp.writeFile(policy, [
        'version: 1',
        'rules:',
        '  - id: no-refunds-in-widget',
        "    match: {route: widget, content: 'refund'}",
        '    effect: deny',
        '  - id: chat',
        '    match: {route: [chat, widget]}',
        '    effect: allow',
        '',
    ].join('\n'));
    const gw = await startWidgetGateway(scope, mock, { extraYaml: `policy: ${policy}\n` });
    const { key } = await enableWidget(gw);
    const ok = await widgetPost(gw.port, key, { message: 'hello' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(predicate(receiptAt(gw.dir, assertDecision(ok, 'allow'))).rule, 'chat');
    const r = await widgetPost(gw.port, key, { message: 'I want a refund now' });
    assertError(r, 403, 'POLICY_DENIED', { receipt: true });
    const d = predicate(receiptAt(gw.dir, assertDecision(r, 'deny', gw.keys)));
    assert.equal(d.rule, 'no-refunds-in-widget');
    const t = await transcripts(gw);
    assert.equal(t.length, 2, 'the denied message was stored');
    assert.ok(!t.some((m) => m.content.includes('refund')));
    // the same words through the API are not the widget's business
    const api = await postJson(gw.port, '/v1/chat/completions',
                               chatBody('gpt-4o-mini', 'I want a refund now'), { key: gw.keys.agent_key });
    assert.equal(api.status, 200, api.text);
});

// Scenario: the upstream fails behind a widget. A provider error is not shown to the public
// page (502 UPSTREAM_UNAVAILABLE, never the provider's text); garbage is 502
// UPSTREAM_BAD_RESPONSE. Either way there is a decision receipt and an outcome receipt that
// says what happened, and the transcript holds the user message (it was forwarded) but no answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, assertError, assertDecision, receiptAt, predicate, waitOutcome,
} from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, setAgentModel, widgetPost, transcripts, ORIGIN,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, agent, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock, {
        config: { orgs: { default: ['gpt-4o-mini', 'mock-error', 'mock-garbage'] } } });
    ({ key, agent } = await enableWidget(gw, { model: 'mock-error' }));
});

for (const [model, code, status] of [['mock-error', 'UPSTREAM_UNAVAILABLE', 'upstream_error'],
                                     ['mock-garbage', 'UPSTREAM_BAD_RESPONSE', 'upstream_bad_response']]) {
    test(`${model}: 502 ${code}, receipts, the user message but no answer stored`, async () => {
        await setAgentModel(gw, agent.id, model);
        const r = await widgetPost(gw.port, key, { message: `tell me (${model})` });
        assertError(r, 502, code, { receipt: true });
        assert.ok(!r.text.includes('mock upstream failure'), 'the provider\'s error text leaked');
        assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
        const index = assertDecision(r, 'allow', gw.keys);
        assert.equal(predicate(receiptAt(gw.dir, index)).route, 'widget');
        const op = predicate(await waitOutcome(gw.dir, index));
        assert.equal(op.status, status);
        assert.equal(op.http_status, 502);
        const t = (await transcripts(gw)).filter((m) => m.receipt_id === r.json.error.receipt_id);
        assert.deepEqual(t.map((m) => [m.role, m.content]), [['user', `tell me (${model})`]]);
    });
}

// Scenario: an enabled widget answers a browser. The answer is {conversation_id, message,
// receipt_id} with CORS headers for the listed origin; the call went through the governed
// pipeline (decision receipt with route "widget", principal "widget:<agent id>", the agent's
// name and model, subject = SHA-256 of the exact browser bytes; an outcome receipt linked to
// it; a usage row); both messages are stored as transcripts with the receipt id, and a second
// message continues the same conversation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, assertDecision, receiptAt, predicate, waitOutcome, readLedger, sha256,
    waitFor, getWithKey,
} from './lib/harness.mjs';
import { startWidgetGateway, enableWidget, widgetPost, transcripts, ORIGIN } from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key, agent;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock);
    ({ key, agent } = await enableWidget(gw, { origins: [ORIGIN, 'http://localhost:3000'],
                                               model: 'gpt-4o' }));
});

test('a message is answered, governed, receipted and stored', async () => {
    const raw = JSON.stringify({ message: 'Where is my parcel?' });
    const r = await widgetPost(gw.port, key, raw);
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    assert.match(String(r.headers.vary), /Origin/);
    assert.match(String(r.headers['access-control-expose-headers']), /bulwark-receipt-id/);
    assert.deepEqual(Object.keys(r.json).sort(), ['conversation_id', 'message', 'receipt_id']);
    assert.match(r.json.conversation_id, /^cnv_[0-9a-f]{16}$/);
    assert.match(r.json.message, /mock reply to: Where is my parcel\?/);
    assert.equal(r.json.receipt_id, r.headers['bulwark-receipt-id']);
    const index = assertDecision(r, 'allow', gw.keys);
    assert.equal((await mock.stats()).last_path, '/v1/chat/completions');

    const dp = predicate(receiptAt(gw.dir, index));
    assert.equal(dp.kind, 'decision');
    assert.equal(dp.decision, 'allow');
    assert.equal(dp.route, 'widget');
    assert.equal(dp.principal, `widget:${agent.id}`);
    assert.equal(dp.agent, 'default');
    assert.equal(dp.model, 'gpt-4o');
    assert.equal(receiptAt(gw.dir, index).obj.subject[0].digest.sha256, sha256(raw));
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.status, 'ok');
    assert.equal(op.http_status, 200);
    assert.ok(op.usage && op.usage.total_tokens > 0, 'outcome without usage');

    const t = await transcripts(gw); // GET /api/v1/transcripts, as the org reviews them
    assert.equal(t.length, 2);
    assert.deepEqual(t.map((m) => m.role), ['user', 'assistant']);
    assert.equal(t[0].content, 'Where is my parcel?');
    assert.equal(t[1].content, r.json.message);
    for (const m of t) {
        assert.equal(m.conversation_id, r.json.conversation_id);
        assert.equal(m.receipt_id, r.json.receipt_id);
        assert.equal(m.agent_id, agent.id);
    }
    // the ledger holds hashes, never the conversation
    const ledger = readLedger(gw.dir);
    for (const s of ['Where is my parcel', r.json.message.slice(0, 30)])
        assert.equal(ledger.indexOf(s), -1, `ledger holds "${s}"`);

    // metered like any call, under the widget's principal and the agent
    const usage = await waitFor(async () => {
        const u = await getWithKey(gw.port, '/api/v1/usage?group_by=agent', gw.keys.admin_key);
        return u.json?.rows?.find((x) => x.group === 'default');
    }, { what: 'a usage row for the agent' });
    assert.equal(usage.calls, 1);
});

test('a second message continues the conversation; a third origin on the list works too', async () => {
    const first = await widgetPost(gw.port, key, { message: 'Hi, I am Ada.' });
    assert.equal(first.status, 200, first.text);
    const cnv = first.json.conversation_id;
    const second = await widgetPost(gw.port, key, { conversation_id: cnv, message: 'And you are?' },
                                    { origin: 'http://localhost:3000' });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.equal(second.json.conversation_id, cnv);
    assert.notEqual(second.json.receipt_id, first.json.receipt_id);
    const t = await transcripts(gw, { conversation_id: cnv });
    assert.deepEqual(t.map((m) => [m.role, m.receipt_id]), [
        ['user', first.json.receipt_id], ['assistant', first.json.receipt_id],
        ['user', second.json.receipt_id], ['assistant', second.json.receipt_id],
    ]);
    assert.deepEqual(t.map((m) => m.content.slice(0, 13)),
                     ['Hi, I am Ada.', 'This is a moc', 'And you are?', 'This is a moc']);
});

test('a conversation id the gateway never issued is 404, not a new conversation', async () => {
    const r = await widgetPost(gw.port, key, { conversation_id: 'cnv_0123456789abcdef',
                                               message: 'let me in' });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.error.code, 'NOT_FOUND');
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN, 'the page may read the error');
    assert.equal((await transcripts(gw, { conversation_id: 'cnv_0123456789abcdef' })).length, 0);
});

// Scenario: allowed calls through the gateway to an external mock upstream. Each asserts the
// status, the body (compared with the mock's own answer), the receipt headers, what reached the
// upstream (the upstream key, never the agent's), and the decision and outcome receipts in the
// ledger (subject = SHA-256 of the exact request bytes; no prompt, completion or key in it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
    Scope, startMock, startGateway, request, postJson, chatBody, sseData, assertDecision,
    receiptAt, predicate, waitOutcome, readLedger, sha256, healthz,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock });
    key = gw.keys.agent_key;
});

test('GET /healthz answers 200 {"status":"ok"} without auth', async () => {
    const r = await healthz(gw.port);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.json, { status: 'ok' });
});

test('an allowed chat completion is forwarded with the upstream key and recorded', async () => {
    const marker = `lighthouse-${crypto.randomBytes(6).toString('hex')}`;
    const raw = JSON.stringify(chatBody('gpt-4o-mini', `Tell me about the ${marker}.`));
    const direct = await postJson(mock.port, '/v1/chat/completions', raw);
    await mock.reset();

    const r = await postJson(gw.port, '/v1/chat/completions', raw, { key });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json.object, 'chat.completion');
    assert.deepEqual(r.json.choices, direct.json.choices, 'body differs from the upstream answer');
    assert.deepEqual(r.json.usage, direct.json.usage);
    const index = assertDecision(r, 'allow', gw.keys);

    const s = await mock.stats();
    assert.equal(s.requests, 1, 'the call reached the upstream once');
    assert.equal(s.last_path, '/v1/chat/completions');
    assert.equal(s.last_authorization, `Bearer ${gw.upstreamKey}`);
    assert.ok(!String(s.last_authorization).includes(key), 'agent key forwarded upstream');

    const decision = receiptAt(gw.dir, index);
    assert.ok(decision, `no receipt at leaf ${index} in the ledger`);
    const dp = predicate(decision);
    assert.equal(dp.kind, 'decision');
    assert.equal(dp.decision, 'allow');
    assert.equal(dp.model, 'gpt-4o-mini');
    assert.equal(decision.obj.subject[0].digest.sha256, sha256(raw),
                 'receipt subject is not the SHA-256 of the exact request bytes');

    const outcome = await waitOutcome(gw.dir, index);
    const op = predicate(outcome);
    assert.equal(op.status, 'ok');
    assert.equal(op.http_status, 200);
    if (op.usage) {
        const { cost_micros: cost, ...tokens } = op.usage;
        assert.deepEqual(tokens, direct.json.usage, 'the upstream-reported usage, not an estimate');
        assert.equal(cost, 0, 'settled cost is recorded (no price configured: 0)');
    }
    assert.ok(op.log.index > index, 'outcome precedes its decision');

    const ledger = readLedger(gw.dir);
    for (const secret of [marker, key, gw.keys.admin_key, gw.upstreamKey,
                          direct.json.choices[0].message.content])
        assert.equal(ledger.indexOf(secret), -1, `ledger holds "${secret.slice(0, 24)}..."`);
});

test('each call gets its own receipt, with increasing indices', async () => {
    const a = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key });
    const b = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const ia = assertDecision(a, 'allow', gw.keys);
    const ib = assertDecision(b, 'allow', gw.keys);
    assert.ok(ib > ia, `indices ${ia}, ${ib}`);
});

test('a streaming completion is passed through as SSE with the same content', async () => {
    const body = chatBody('gpt-4o', 'Write two sentences about tides.');
    const plain = await postJson(gw.port, '/v1/chat/completions', body, { key });
    assert.equal(plain.status, 200, plain.text);
    const r = await postJson(gw.port, '/v1/chat/completions',
                             { ...body, stream: true, stream_options: { include_usage: true } },
                             { key });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    const index = assertDecision(r, 'allow', gw.keys);
    const events = sseData(r.text);
    assert.equal(events.at(-1), '[DONE]', 'stream did not end with [DONE]');
    let content = '';
    let usage;
    for (const e of events.slice(0, -1)) {
        const c = JSON.parse(e);
        assert.equal(c.object, 'chat.completion.chunk');
        content += c.choices?.[0]?.delta?.content ?? '';
        if (c.usage) usage = c.usage;
    }
    assert.equal(content, plain.json.choices[0].message.content);
    assert.deepEqual(usage, plain.json.usage);
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.status, 'ok');
});

test('embeddings are forwarded and recorded', async () => {
    const body = { model: 'text-embedding-3-small', input: ['one', 'two'] };
    const direct = await postJson(mock.port, '/v1/embeddings', body);
    await mock.reset();
    const r = await postJson(gw.port, '/v1/embeddings', body, { key });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, direct.json.data);
    const index = assertDecision(r, 'allow', gw.keys);
    const s = await mock.stats();
    assert.equal(s.requests, 1);
    assert.equal(s.last_path, '/v1/embeddings');
    assert.equal(s.last_authorization, `Bearer ${gw.upstreamKey}`);
    const d = receiptAt(gw.dir, index);
    assert.equal(predicate(d).model, 'text-embedding-3-small');
    assert.equal(predicate(await waitOutcome(gw.dir, index)).status, 'ok');
});

test('GET /v1/models is the upstream list filtered to the org allowed models', async () => {
    const r = await request(gw.port, { path: '/v1/models',
                                       headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    const ids = r.json.data.map((m) => m.id).sort();
    assert.deepEqual(ids, ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
    const unauth = await request(gw.port, { path: '/v1/models' });
    assert.equal(unauth.status, 401);
});

test('the client Authorization never reaches the upstream, whatever its case or form', async () => {
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), {
        headers: { Authorization: `Bearer ${key}` },
    });
    assert.equal(r.status, 200, r.text);
    const s = await mock.stats();
    assert.equal(s.requests, 1);
    assert.equal(s.last_authorization, `Bearer ${gw.upstreamKey}`);
});

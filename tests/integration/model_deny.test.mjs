// Scenario: a model outside the org's allowed list is denied: 403 MODEL_NOT_ALLOWED, decision
// deny, a durable deny receipt whose id is in the headers and the error body, and nothing
// forwarded upstream. The models list shows only what is allowed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, request, postJson, chatBody, assertError, assertDecision,
    receiptAt, predicate, readLedger, sha256,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, {
        upstream: mock,
        config: { orgs: { default: ['gpt-4o-mini', 'text-embedding-3-small'] } },
    });
    key = gw.keys.agent_key;
});

async function assertDenied(p, body) {
    await mock.reset();
    const raw = JSON.stringify(body);
    const r = await postJson(gw.port, p, raw, { key });
    assertError(r, 403, 'MODEL_NOT_ALLOWED', { receipt: true });
    assert.equal(r.json.error.type, 'permission_error', r.text);
    const index = assertDecision(r, 'deny', gw.keys);
    assert.equal((await mock.stats()).requests, 0, 'a denied call reached the upstream');
    // Durable before the answer: the receipt is in the file now, no waiting.
    const d = receiptAt(gw.dir, index);
    assert.ok(d, `deny receipt ${index} not in the ledger when the 403 arrived`);
    const pr = predicate(d);
    assert.equal(pr.kind, 'decision');
    assert.equal(pr.decision, 'deny');
    assert.equal(pr.reason, 'MODEL_NOT_ALLOWED');
    assert.equal(pr.model, body.model);
    assert.equal(d.obj.subject[0].digest.sha256, sha256(raw));
    return index;
}

test('chat with a model not in allowed_models is denied with a receipt', async () => {
    await assertDenied('/v1/chat/completions', chatBody('gpt-4o'));
    assert.ok(readLedger(gw.dir).includes('"reason":"MODEL_NOT_ALLOWED"'),
              'the ledger file does not hold the canonical deny receipt bytes');
});

test('streaming does not bypass the model check', async () => {
    await assertDenied('/v1/chat/completions', chatBody('gpt-4o', 'hi', { stream: true }));
});

test('embeddings with a model not in the list are denied', async () => {
    await assertDenied('/v1/embeddings', { model: 'text-embedding-3-large', input: 'x' });
});

test('behaviour models and near-miss names are not allowed', async () => {
    for (const m of ['mock-error', 'GPT-4O-MINI', 'gpt-4o-mini*', 'gpt-4o-mini-2024', 'gpt-4o-min'])
        await assertDenied('/v1/chat/completions', chatBody(m));
});

test('a model name a receipt cannot hold (spaces, control or non-ASCII characters) fails closed', async () => {
    // Receipt strings are printable ASCII only, so such a name cannot be recorded as is: the
    // call must be refused (4xx), never forwarded, and never crash the server.
    for (const m of [' gpt-4o-mini', 'gpt-4o-mini ', 'gpt-4o-mini\u0000', 'gpt-4o-mini\n',
                     'gpt-4o-mini\u00e9', 'x'.repeat(5000)]) {
        await mock.reset();
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(m), { key });
        assert.ok(r.status === 400 || r.status === 403, `${JSON.stringify(m).slice(0, 40)}: ${r.status} ${r.text}`);
        assert.ok(['INVALID_REQUEST', 'MODEL_NOT_ALLOWED', 'INVALID_JSON'].includes(r.json?.error?.code),
                  r.text);
        assert.equal((await mock.stats()).requests, 0);
    }
});

test('an allowed model still works next to the denials', async () => {
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini'), { key });
    assert.equal(r.status, 200, r.text);
    assertDecision(r, 'allow', gw.keys);
    assert.equal((await mock.stats()).requests, 1);
});

test('GET /v1/models shows only the allowed models', async () => {
    const r = await request(gw.port, { path: '/v1/models',
                                       headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data.map((m) => m.id).sort(), ['gpt-4o-mini', 'text-embedding-3-small']);
});

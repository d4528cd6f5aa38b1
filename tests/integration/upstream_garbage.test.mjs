// Scenario: a broken upstream. A 200 whose body is not JSON (mock-garbage) is 502
// UPSTREAM_BAD_RESPONSE, never passed to the client, recorded as "upstream_bad_response"; an
// upstream's own JSON error (mock-error, 500) is passed through with its status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, postJson, chatBody, assertError, assertDecision,
    waitOutcome, predicate, assertHealthy,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, {
        upstream: mock,
        config: { orgs: { default: ['gpt-4o-mini', 'mock-garbage', 'mock-error'] } },
    });
    key = gw.keys.agent_key;
});

test('a non-JSON 200 from the upstream is 502 UPSTREAM_BAD_RESPONSE', async () => {
    const direct = await postJson(mock.port, '/v1/chat/completions', chatBody('mock-garbage'));
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody('mock-garbage'), { key });
    assertError(r, 502, 'UPSTREAM_BAD_RESPONSE', { receipt: true });
    const index = assertDecision(r, 'allow', gw.keys);
    assert.ok(!r.text.includes(direct.text.slice(0, 32)), 'the garbage reached the client');
    assert.equal((await mock.stats()).requests, 1);
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.status, 'upstream_bad_response');
    assert.equal(op.http_status, 502);
});

test("the upstream's own JSON error is passed through with its status", async () => {
    const direct = await postJson(mock.port, '/v1/chat/completions', chatBody('mock-error'));
    assert.equal(direct.status, 500);
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody('mock-error'), { key });
    assert.equal(r.status, 500, r.text);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json.error.message, direct.json.error.message);
    assert.equal(r.json.error.type, direct.json.error.type);
    const index = assertDecision(r, 'allow', gw.keys);
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.http_status, 500);
    assert.notEqual(op.status, 'ok');
});

test('the server is healthy and serves after the broken answers', async () => {
    await assertHealthy(gw.port);
    const r = await postJson(gw.port, '/v1/chat/completions', chatBody('gpt-4o-mini'), { key });
    assert.equal(r.status, 200, r.text);
});

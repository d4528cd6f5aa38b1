// Scenario: malformed request bodies. Syntax errors, duplicate keys, non-object bodies and
// invalid UTF-8 are 400 INVALID_JSON; nesting past max_json_depth is 400 JSON_TOO_DEEP; a body
// without a usable model is 400 INVALID_REQUEST. None is forwarded; the server stays healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    Scope, startMock, startGateway, postJson, assertError, assertHealthy,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startGateway(scope, { upstream: mock, config: { maxJsonDepth: 32 } });
    key = gw.keys.agent_key;
});

const MSG = '"messages":[{"role":"user","content":"hi"}]';

async function expectRejected(p, body, status, code) {
    await mock.reset();
    const r = await postJson(gw.port, p, body, { key });
    assertError(r, status, code);
    assert.equal((await mock.stats()).requests, 0, 'a rejected body was forwarded');
    return r;
}

const INVALID_JSON = [
    ['a syntax error', `{"model":"gpt-4o-mini",${MSG}`],
    ['a trailing comma', `{"model":"gpt-4o-mini",${MSG},}`],
    ['trailing garbage', `{"model":"gpt-4o-mini",${MSG}} x`],
    ['two objects', `{"model":"gpt-4o-mini",${MSG}}{}`],
    ['a duplicate top-level key', `{"model":"gpt-4o-mini","model":"gpt-4o",${MSG}}`],
    ['a duplicate key in a nested object',
     '{"model":"gpt-4o-mini","messages":[{"role":"user","role":"system","content":"hi"}]}'],
    ['a duplicate key spelled with an escape', `{"model":"gpt-4o-mini","mod\\u0065l":"gpt-4o",${MSG}}`],
    ['an array body', `[{"model":"gpt-4o-mini",${MSG}}]`],
    ['a string body', '"gpt-4o-mini"'],
    ['a number body', '42'],
    ['null', 'null'],
    ['invalid UTF-8 in a string',
     Buffer.concat([Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'),
                    Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')])],
    ['an overlong UTF-8 encoding',
     Buffer.concat([Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'),
                    Buffer.from([0xc0, 0xaf]), Buffer.from('"}]}')])],
    ['a UTF-8 encoded surrogate',
     Buffer.concat([Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'),
                    Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}]}')])],
    ['a NaN literal', `{"model":"gpt-4o-mini","temperature":NaN,${MSG}}`],
    ['single quotes', `{'model':'gpt-4o-mini'}`],
];

for (const [what, body] of INVALID_JSON) {
    test(`chat with ${what} is 400 INVALID_JSON`, async () => {
        await expectRejected('/v1/chat/completions', body, 400, 'INVALID_JSON');
    });
}

test('embeddings with a syntax error or duplicate key is 400 INVALID_JSON', async () => {
    await expectRejected('/v1/embeddings', '{"model":"text-embedding-3-small","input":', 400,
                         'INVALID_JSON');
    await expectRejected('/v1/embeddings',
                         '{"model":"text-embedding-3-small","input":"a","input":"b"}', 400,
                         'INVALID_JSON');
});

test('an empty body is a 400', async () => {
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', '', { key });
    assert.equal(r.status, 400, r.text);
    assert.ok(['INVALID_JSON', 'INVALID_REQUEST'].includes(r.json?.error?.code), r.text);
    assert.equal((await mock.stats()).requests, 0);
});

const nest = (depth) => `{"model":"gpt-4o-mini",${MSG},"metadata":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;

test('nesting far past max_json_depth is 400 JSON_TOO_DEEP', async () => {
    await expectRejected('/v1/chat/completions', nest(40), 400, 'JSON_TOO_DEEP');
    await expectRejected('/v1/chat/completions',
                         `{"model":"gpt-4o-mini",${MSG},"a":${'{"a":'.repeat(64)}1${'}'.repeat(64)}}`,
                         400, 'JSON_TOO_DEEP');
});

test('a nesting bomb is refused without crashing the server', async () => {
    // Well-formed but 5000 deep: too deep, whatever the parser's own stack limit is.
    await expectRejected('/v1/chat/completions', nest(5000), 400, 'JSON_TOO_DEEP');
    // 200k open brackets and no close: both too deep and malformed; either code is a refusal.
    for (const bomb of ['['.repeat(200000), `{"a":${'{"a":'.repeat(100000)}`]) {
        await mock.reset();
        const r = await postJson(gw.port, '/v1/chat/completions', bomb, { key });
        assert.equal(r.status, 400, r.text);
        assert.ok(['JSON_TOO_DEEP', 'INVALID_JSON'].includes(r.json?.error?.code), r.text);
        assert.equal((await mock.stats()).requests, 0);
    }
    await assertHealthy(gw.port);
});

test('moderate nesting inside the limit is accepted', async () => {
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', nest(8), { key });
    assert.equal(r.status, 200, r.text);
    assert.equal((await mock.stats()).requests, 1);
});

const INVALID_REQUEST = [
    ['no model', `{${MSG}}`],
    ['a numeric model', `{"model":42,${MSG}}`],
    ['a null model', `{"model":null,${MSG}}`],
    ['an object model', `{"model":{"name":"gpt-4o-mini"},${MSG}}`],
];

for (const [what, body] of INVALID_REQUEST) {
    test(`chat with ${what} is 400 INVALID_REQUEST`, async () => {
        await expectRejected('/v1/chat/completions', body, 400, 'INVALID_REQUEST');
    });
}

test('an empty model name is refused (400 INVALID_REQUEST or 403 MODEL_NOT_ALLOWED)', async () => {
    await mock.reset();
    const r = await postJson(gw.port, '/v1/chat/completions', `{"model":"",${MSG}}`, { key });
    assert.ok(r.status === 400 || r.status === 403, `${r.status} ${r.text}`);
    assert.ok(['INVALID_REQUEST', 'MODEL_NOT_ALLOWED'].includes(r.json?.error?.code), r.text);
    assert.equal((await mock.stats()).requests, 0);
});

test('embeddings without a model is 400 INVALID_REQUEST', async () => {
    await expectRejected('/v1/embeddings', '{"input":"x"}', 400, 'INVALID_REQUEST');
});

test('error messages never echo request content', async () => {
    // src/http/reply.h: messages are fixed text, never an echo of secrets or request content.
    // Short tokens are used because a parser's "near '<token>'" context only shows short ones.
    const secret = 'pw-Hunter2x';
    for (const body of [`{"model":"gpt-4o-mini","api_key":${secret}}`,
                        `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${secret}"}],}`,
                        `{"model":"gpt-4o-mini","${secret}":1,"${secret}":2}`,
                        `{"model":"gpt-4o-mini","x":"${secret}\\u0000"}`,
                        `{"model":"gpt-4o-mini","x":"${secret}\\ud800"}`]) {
        const r = await postJson(gw.port, '/v1/chat/completions', body, { key });
        assert.equal(r.status, 400, r.text);
        assert.ok(!r.text.includes('Hunter2'), `the error echoes the request: ${r.text}`);
    }
});

test('the server is healthy and still serves after all the bad input', async () => {
    await assertHealthy(gw.port);
    const r = await postJson(gw.port, '/v1/chat/completions',
                             `{"model":"gpt-4o-mini",${MSG}}`, { key });
    assert.equal(r.status, 200, r.text);
});

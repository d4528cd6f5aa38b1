// Scenario: `bulwark mock-upstream` on its own: the OpenAI-compatible answers the gateway
// tests rely on (chat, streaming, tool calls, embeddings, models), the behaviour models, the
// stats endpoint and --latency-ms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, startMock, request, postJson, chatBody, sseData } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let mock;
before(async () => {
    mock = await startMock(scope);
});

const chat = (body, o) => postJson(mock.port, '/v1/chat/completions', body, o);

function assertUsage(u) {
    assert.ok(u && typeof u === 'object', 'usage missing');
    for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens'])
        assert.ok(Number.isInteger(u[k]) && u[k] >= 0, `usage.${k}: ${u[k]}`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
}

test('GET /v1/models lists the models', async () => {
    const r = await request(mock.port, { path: '/v1/models' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    const ids = r.json.data.map((m) => m.id);
    for (const id of ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'mock-hang',
                      'mock-garbage', 'mock-error', 'mock-slow-stream'])
        assert.ok(ids.includes(id), `models lacks ${id}: ${ids}`);
    for (const m of r.json.data) assert.equal(m.object, 'model');
});

test('a chat completion is OpenAI-shaped, deterministic, with usage', async () => {
    const body = chatBody('gpt-4o-mini', 'Tell me about lighthouses.');
    const r = await chat(body);
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const j = r.json;
    assert.equal(j.object, 'chat.completion');
    assert.equal(typeof j.id, 'string');
    assert.equal(j.model, 'gpt-4o-mini');
    assert.equal(j.choices.length, 1);
    assert.equal(j.choices[0].message.role, 'assistant');
    assert.equal(typeof j.choices[0].message.content, 'string');
    assert.ok(j.choices[0].message.content.length > 0);
    assert.equal(j.choices[0].finish_reason, 'stop');
    assertUsage(j.usage);
    const again = await chat(body);
    assert.equal(again.json.choices[0].message.content, j.choices[0].message.content,
                 'same request, different content');
});

test('a streaming chat completion: SSE chunks whose deltas make the plain reply, then usage', async () => {
    const body = chatBody('gpt-4o', 'Stream a short poem.');
    const plain = await chat(body);
    assert.equal(plain.status, 200);
    const r = await chat({ ...body, stream: true, stream_options: { include_usage: true } });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    const events = sseData(r.text);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.length >= 2, 'expected several chunks');
    let content = '';
    let usage;
    for (const c of chunks) {
        assert.equal(c.object, 'chat.completion.chunk');
        if (c.choices && c.choices[0] && c.choices[0].delta && c.choices[0].delta.content)
            content += c.choices[0].delta.content;
        if (c.usage) usage = c.usage;
    }
    assert.equal(content, plain.json.choices[0].message.content);
    assertUsage(usage);
    assert.deepEqual(usage, plain.json.usage);
});

const TOOLS = [{
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } },
                      required: ['city'] },
    },
}];

test('tool calls come back when tools are offered and the user asks for one', async () => {
    for (const ask of ['Please call get_weather for Paris.', 'Just use a tool.']) {
        const r = await chat(chatBody('gpt-4o-mini', ask, { tools: TOOLS }));
        assert.equal(r.status, 200, r.text);
        const choice = r.json.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls', ask);
        const calls = choice.message.tool_calls;
        assert.ok(Array.isArray(calls) && calls.length >= 1, ask);
        assert.equal(calls[0].type, 'function');
        assert.equal(calls[0].function.name, 'get_weather');
        assert.equal(typeof calls[0].id, 'string');
        const args = JSON.parse(calls[0].function.arguments);
        assert.equal(typeof args, 'object');
    }
    // Tools offered but not asked for: a plain answer.
    const r = await chat(chatBody('gpt-4o-mini', 'Hello there.', { tools: TOOLS }));
    assert.equal(r.json.choices[0].finish_reason, 'stop');
    assert.ok(!r.json.choices[0].message.tool_calls);
});

test('embeddings: float and base64 encodings agree, deterministic per input', async () => {
    const input = ['alpha', 'beta'];
    const f = await postJson(mock.port, '/v1/embeddings',
                             { model: 'text-embedding-3-small', input, encoding_format: 'float' });
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.object, 'list');
    assert.equal(f.json.data.length, 2);
    const [a, b] = f.json.data.map((d) => d.embedding);
    assert.ok(a.length > 0 && a.every((x) => typeof x === 'number'));
    assert.equal(a.length, b.length);
    assert.notDeepEqual(a, b, 'different inputs, same vector');
    assert.ok(Number.isInteger(f.json.usage.prompt_tokens));

    const b64 = await postJson(mock.port, '/v1/embeddings',
                               { model: 'text-embedding-3-small', input,
                                 encoding_format: 'base64' });
    assert.equal(b64.status, 200, b64.text);
    const raw = Buffer.from(b64.json.data[0].embedding, 'base64');
    assert.equal(raw.length, a.length * 4, 'base64 is little-endian float32');
    for (let i = 0; i < a.length; i++)
        assert.ok(Math.abs(raw.readFloatLE(i * 4) - a[i]) < 1e-6, `component ${i}`);

    const single = await postJson(mock.port, '/v1/embeddings',
                                  { model: 'text-embedding-3-small', input: 'alpha' });
    assert.equal(single.status, 200);
    assert.deepEqual(single.json.data[0].embedding, a);
});

test('mock-error answers 500 in the OpenAI error shape', async () => {
    const r = await chat(chatBody('mock-error'));
    assert.equal(r.status, 500);
    assert.equal(typeof r.json.error.message, 'string');
});

test('mock-garbage answers 200 with a body that is not JSON', async () => {
    const r = await chat(chatBody('mock-garbage'));
    assert.equal(r.status, 200);
    assert.equal(r.json, undefined, `garbage parsed as JSON: ${r.text}`);
});

test('mock-hang never answers', async () => {
    await assert.rejects(chat(chatBody('mock-hang'), { timeoutMs: 800 }), /no response/);
});

test('mock-slow-stream sends a chunk about every 200 ms', async () => {
    const times = [];
    await new Promise((resolve, reject) => {
        const ac = new AbortController();
        fetch(`${mock.base}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(chatBody('mock-slow-stream', 'go', { stream: true })),
            signal: ac.signal,
        }).then(async (res) => {
            assert.equal(res.status, 200);
            const t0 = Date.now();
            for await (const chunk of res.body) {
                if (chunk.length) times.push(Date.now() - t0);
                if (times.length >= 4) break;
            }
            ac.abort();
            resolve();
        }).catch(reject);
    });
    // Four reads spread over ~600 ms, not all at once.
    assert.ok(times.at(-1) >= 350, `chunks at ${times}`);
    assert.ok(times.at(-1) < 3000, `chunks at ${times}`);
});

test('stats count POST /v1/* requests and remember the last Authorization; reset zeroes', async () => {
    await mock.reset();
    let s = await mock.stats();
    assert.equal(s.requests, 0);
    await chat(chatBody(), { headers: { authorization: 'Bearer sk-one' } });
    await postJson(mock.port, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' },
                   { headers: { authorization: 'Bearer sk-two' } });
    await request(mock.port, { path: '/v1/models' });
    s = await mock.stats();
    assert.equal(s.requests, 2, JSON.stringify(s));
    assert.equal(s.last_authorization, 'Bearer sk-two');
    assert.equal(s.last_path, '/v1/embeddings');
    await mock.reset();
    assert.equal((await mock.stats()).requests, 0);
});

test('--latency-ms delays every answer', async () => {
    const slow = await startMock(scope, { latencyMs: 400 });
    const t0 = Date.now();
    const r = await postJson(slow.port, '/v1/chat/completions', chatBody());
    const dt = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(dt >= 380, `answered after ${dt} ms`);
    assert.ok(dt < 3000, `answered after ${dt} ms`);
});

test('a fresh mock has no last Authorization; it stops on SIGTERM', async () => {
    const m = await startMock(scope);
    const s = await m.stats();
    assert.equal(s.requests, 0);
    assert.equal(s.last_authorization, null);
    m.proc.kill('SIGTERM');
    await m.proc.waitExit(5000);
});

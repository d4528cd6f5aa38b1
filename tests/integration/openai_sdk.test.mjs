// Scenario: the official `openai` npm SDK, pointed at the gateway (serve --upstream mock), works
// unchanged: chat, streaming with usage, tool calls, embeddings, models; Bulwark's refusals
// surface as the SDK's typed errors with Bulwark's reason code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Scope, startGateway, RECEIPT_ID_RE } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let gw, client;
before(async () => {
    gw = await startGateway(scope, {
        upstreamFlag: 'mock',
        config: { orgs: { default: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'] } },
    });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: gw.keys.agent_key,
                          maxRetries: 0, timeout: 15000 });
});

const MESSAGES = [{ role: 'system', content: 'You are terse.' },
                  { role: 'user', content: 'Describe a harbour at dawn.' }];

test('chat completion', async () => {
    const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: MESSAGES }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.ok(data.choices[0].message.content.length > 0);
    assert.ok(data.usage.total_tokens > 0);
    assert.match(String(response.headers.get('bulwark-receipt-id')), RECEIPT_ID_RE);
    assert.equal(response.headers.get('bulwark-decision'), 'allow');
});

test('streaming chat completion with include_usage: deltas make the plain reply', async () => {
    const plain = await client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES });
    const stream = await client.chat.completions.create({
        model: 'gpt-4o', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
    });
    let content = '';
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
        chunks++;
        content += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks >= 2, `${chunks} chunks`);
    assert.equal(content, plain.choices[0].message.content);
    assert.ok(usage, 'no usage chunk');
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.deepEqual(usage, plain.usage);
});

test('tool call with parseable arguments', async () => {
    const r = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'What is the weather in Oslo? Please call get_weather.' }],
        tools: [{
            type: 'function',
            function: {
                name: 'get_weather',
                description: 'Current weather for a city',
                parameters: { type: 'object', properties: { city: { type: 'string' } },
                              required: ['city'] },
            },
        }],
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    const call = choice.message.tool_calls?.[0];
    assert.ok(call, 'no tool call');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args, 'object');
});

test('embeddings (SDK default base64 transport, and float)', async () => {
    const a = await client.embeddings.create({ model: 'text-embedding-3-small',
                                               input: ['north', 'south'] });
    assert.equal(a.data.length, 2);
    const v = a.data[0].embedding;
    assert.ok(Array.isArray(v) && v.length > 0 && v.every(Number.isFinite));
    const f = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['north'],
                                               encoding_format: 'float' });
    assert.equal(f.data[0].embedding.length, v.length);
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(f.data[0].embedding[i] - v[i]) < 1e-6);
});

test('models list is the allowed models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
});

test('a denied model is PermissionDeniedError (403) with code MODEL_NOT_ALLOWED', async () => {
    await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4-turbo', messages: MESSAGES }),
        (e) => {
            assert.ok(e instanceof OpenAI.PermissionDeniedError, `got ${e?.constructor?.name}: ${e}`);
            assert.equal(e.status, 403);
            assert.equal(e.code, 'MODEL_NOT_ALLOWED');
            assert.match(String(e.headers?.get('bulwark-receipt-id')), RECEIPT_ID_RE);
            assert.equal(e.headers?.get('bulwark-decision'), 'deny');
            return true;
        });
});

test('an invalid key is AuthenticationError (401)', async () => {
    const bad = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`,
                             apiKey: 'bwk_not_a_real_key_000000000000', maxRetries: 0 });
    await assert.rejects(
        bad.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }),
        (e) => {
            assert.ok(e instanceof OpenAI.AuthenticationError, `got ${e?.constructor?.name}: ${e}`);
            assert.equal(e.status, 401);
            assert.equal(e.code, 'UNAUTHENTICATED');
            return true;
        });
});

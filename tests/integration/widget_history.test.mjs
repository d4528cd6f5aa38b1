// Scenario: the gateway, not the browser, builds the upstream request. Against an upstream that
// records what it receives: the model is the agent's (or widget.model for an agent without
// one), max_tokens is widget.max_tokens, there are no tools, no system prompt the browser sent,
// and the messages are the conversation's stored history (at most widget.history_messages, the
// newest, within widget.history_bytes of text) followed by the new message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope } from './lib/harness.mjs';
import {
    startWidgetGateway, enableWidget, widgetPost, startRecordingUpstream, setAgentModel,
} from './lib/widget.mjs';

const scope = new Scope();
after(() => scope.cleanup());

let up, gw, key, agent;
before(async () => {
    up = await startRecordingUpstream(scope);
    gw = await startWidgetGateway(scope, up, {
        extraYaml: 'widget:\n  model: gpt-4o-mini\n  max_tokens: 77\n  history_messages: 3\n' });
    ({ key, agent } = await enableWidget(gw, { model: 'gpt-4o' }));
});

test('model, max_tokens and messages are the gateway\'s, with a bounded history', async () => {
    const a = await widgetPost(gw.port, key, { message: 'first' });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.message, 'answer 1');
    const cnv = a.json.conversation_id;
    const b = await widgetPost(gw.port, key, { conversation_id: cnv, message: 'second' });
    assert.equal(b.status, 200, b.text);
    const c = await widgetPost(gw.port, key, { conversation_id: cnv, message: 'third' });
    assert.equal(c.status, 200, c.text);

    assert.equal(up.bodies.length, 3);
    for (const { path, json } of up.bodies) {
        assert.equal(path, '/v1/chat/completions');
        assert.deepEqual(Object.keys(json).sort(), ['max_tokens', 'messages', 'model']);
        assert.equal(json.model, 'gpt-4o');
        assert.equal(json.max_tokens, 77);
    }
    assert.deepEqual(up.bodies[0].json.messages, [{ role: 'user', content: 'first' }]);
    assert.deepEqual(up.bodies[1].json.messages, [
        { role: 'user', content: 'first' }, { role: 'assistant', content: 'answer 1' },
        { role: 'user', content: 'second' }]);
    // four stored messages, history_messages: 3 -> the newest three, then the new one
    assert.deepEqual(up.bodies[2].json.messages, [
        { role: 'assistant', content: 'answer 1' }, { role: 'user', content: 'second' },
        { role: 'assistant', content: 'answer 2' }, { role: 'user', content: 'third' }]);
});

test('an agent without a model uses widget.model', async () => {
    await setAgentModel(gw, agent.id, '');
    const r = await widgetPost(gw.port, key, { message: 'which model?' });
    assert.equal(r.status, 200, r.text);
    assert.equal(up.bodies.at(-1).json.model, 'gpt-4o-mini');
});

test('widget.history_bytes keeps only the newest messages that fit', async () => {
    const up2 = await startRecordingUpstream(scope);
    const gw2 = await startWidgetGateway(scope, up2, { extraYaml: 'widget:\n  history_bytes: 20\n' });
    const { key: k } = await enableWidget(gw2);
    const a = await widgetPost(gw2.port, k, { message: 'first' });
    assert.equal(a.status, 200, a.text);
    const cnv = a.json.conversation_id;
    assert.equal((await widgetPost(gw2.port, k, { conversation_id: cnv, message: 'second' })).status, 200);
    assert.equal((await widgetPost(gw2.port, k, { conversation_id: cnv, message: 'third' })).status, 200);
    // newest first: "answer 2" (8) + "second" (6) = 14 fit in 20, "answer 1" (8) would not
    assert.deepEqual(up2.bodies[2].json.messages, [
        { role: 'user', content: 'second' }, { role: 'assistant', content: 'answer 2' },
        { role: 'user', content: 'third' }]);
});

// yaml_strict: the configuration and the policy are read by one strict YAML reader
// (src/util/yaml_strict.c, docs/CONFIG.md and docs/POLICY.md "Strict YAML"). The same hostile
// documents are refused by every way in: `bulwark serve --config`, `bulwark policy check`, and an
// org admin's PUT /api/v1/policies (which then changes nothing). Each refusal names the line and
// column.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, run, initData, configYaml, postJson, request } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';

const scope = new Scope();
after(() => scope.cleanup());

// The billion laughs: nine levels of nine aliases.
function bomb() {
    const lines = ['a0: &a0 [lol]'];
    for (let i = 1; i <= 9; i++)
        lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
    return lines.join('\n') + '\n';
}

// Hostile documents that are otherwise valid, so only the reader can refuse them (before the
// shared reader the config loaded every one but the duplicate key and the nesting, and the
// policy loaded the anchor, the tag and the second document). [name, text, line:column, why]
function configCases(valid) {
    const n = valid.split('\n').length - 1;
    const listen = valid.split('\n').findIndex((l) => l.startsWith('listen:')) + 1;
    return [
        ['an alias', valid.replace('allowed_models: [', 'allowed_models: &m [') +
            '  other:\n    allowed_models: *m\n', `${n}:21`, /aliases and anchors/],
        ['an alias bomb', valid + bomb(), `${n + 1}:5`, /aliases and anchors/],
        ['a python tag', valid.replace(/^listen: /m, 'listen: !!python/object/apply:os.system '),
            `${listen}:9`, /YAML tags/],
        ['a second document', valid + '---\nlisten: 0.0.0.0:9\n', `${n + 1}:1`, /more than one YAML document/],
        ['a duplicate key', valid + 'workers: 3\n', `${n + 1}:1`, /duplicate key 'workers'/],
        ['deep nesting', valid + 'x: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n', `${n + 1}:`,
            /nested deeper than 32/],
        ['a merge key', valid + 'upstream2: {<<: {a: 1}}\n', `${n + 1}:13`, /merge keys/],
        ['a quoted integer', valid.replace(/^workers: \d+$/m, 'workers: "2"'), null,
            /:\d+: workers: expected an integer/],
    ];
}

function policyCases(valid) {
    const n = valid.split('\n').length - 1;
    return [
        ['an anchor', valid.replace(/^rules:/m, 'rules: &r'), '2:8', /aliases and anchors/],
        ['an alias bomb', valid + bomb(), `${n + 1}:5`, /aliases and anchors/],
        ['a python tag', valid.replace('version: 1', 'version: !!python/object 1'), '1:10', /YAML tags/],
        ['a second document', valid + '---\nrules: []\n', `${n + 1}:1`, /more than one YAML document/],
        ['a duplicate key', valid + 'version: 1\n', `${n + 1}:1`, /duplicate key 'version'/],
        ['deep nesting', valid + 'x: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n', `${n + 1}:`,
            /nested deeper than 32/],
        ['a merge key', valid + 'limits: {<<: {a: 1}}\n', `${n + 1}:10`, /merge keys/],
        ['a quoted integer', valid.replace('version: 1', 'version: "1"'), '1', /version: expected an integer/],
    ];
}

test('serve refuses each hostile configuration, naming line and column', async () => {
    const data = await initData(scope);
    const valid = configYaml({ upstream: 'mock', apiKeyEnv: null });
    for (const [name, text, where, why] of configCases(valid)) {
        const cfg = path.join(data.dir, 'hostile.yaml');
        await fsp.writeFile(cfg, text);
        const r = await run(['serve', '--data', data.dir, '--config', cfg, '--listen', '127.0.0.1:0'],
                            { timeoutMs: 5000 });
        assert.notEqual(r.code, 0, `${name}: serve started`);
        if (where) assert.ok(r.stderr.includes(`hostile.yaml:${where}`), `${name}: ${r.stderr}`);
        assert.match(r.stderr, why, name);
    }
});

test('policy check refuses the same kinds of document', async () => {
    const dir = await scope.tmpdir('bw-it-yaml-');
    for (const [name, text, where, why] of policyCases('version: 1\nrules: []\n')) {
        const f = path.join(dir, 'p.yaml');
        await fsp.writeFile(f, text);
        const r = await run(['policy', 'check', f]);
        assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
        const out = r.stdout + r.stderr;
        assert.ok(out.includes(`p.yaml:${where}`), `${name}: ${out}`);
        assert.match(out, why, name);
    }
});

test("an org admin's hostile policy is 400 and changes nothing", async () => {
    const w = await startTenants(scope, 'sqlite');
    try {
        const ag = await api(w.port, 'POST', '/api/v1/agents', w.B.owner, { name: 'b-bot' });
        assert.equal(ag.status, 201, ag.text);
        const k = await api(w.port, 'POST', '/api/v1/keys', w.B.owner, { role: 'agent', agent: 'b-bot' });
        const chat = { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
        const before = await postJson(w.port, '/v1/chat/completions', chat, { key: k.json.key });
        for (const [name, text, where, why] of policyCases('version: 1\nrules:\n  - {id: all, effect: allow}\n')) {
            const r = await request(w.port, {
                method: 'PUT', path: '/api/v1/policies', body: text,
                headers: { authorization: `Bearer ${w.B.owner}`, 'content-type': 'application/yaml' },
            });
            assert.equal(r.status, 400, `${name}: ${r.text}`);
            assert.ok(r.json.error.message.includes(`:${where}`), `${name}: ${r.json.error.message}`);
            assert.match(r.json.error.message, why, name);
        }
        const g = await api(w.port, 'GET', '/api/v1/policies', w.B.owner);
        assert.equal(g.json.org, null, 'no hostile policy was stored');
        const again = await postJson(w.port, '/v1/chat/completions', chat, { key: k.json.key });
        assert.equal(again.status, before.status);
    } finally {
        await w.stop();
    }
});

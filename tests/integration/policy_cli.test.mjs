// Scenario: `bulwark policy check` and `bulwark policy eval` on every example policy in
// docs/policies/ (each must check clean, and each documented request must get its documented
// decision), plus the failure modes: a bad policy names file:line, a bad request exits 1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, run, REPO, sha256 } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const POLICIES = path.join(REPO, 'docs/policies');
const chat = (model, content = 'hello', extra = {}) => ({
    model, max_tokens: 100, messages: [{ role: 'user', content }], ...extra });
const tool = (name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
const TUE_1000_BERLIN = 1699952400; // 2023-11-14 09:00 UTC = 10:00 at +01:00
const TUE_2313_BERLIN = 1700000000;

// [policy, request body, extra flags, decision, reason, rule (null: none)]
const CASES = [
    ['baseline.yaml', chat('gpt-4o'), ['--org', 'acme'], 'allow', 'ALLOWED', 'acme-chat'],
    ['baseline.yaml', chat('o1-preview'), ['--org', 'acme'], 'deny', 'MODEL_NOT_ALLOWED',
        'no-reasoning-models'],
    ['baseline.yaml', chat('gpt-4o', 'my key is sk-abcdefghijklmnopqrstuvwx'), ['--org', 'acme'],
        'deny', 'CONTENT_BLOCKED', 'no-secrets-in-prompts'],
    ['baseline.yaml', chat('gpt-4o', 'hi', { tools: [tool('calc'), tool('shell_exec')] }),
        ['--org', 'acme'], 'deny', 'TOOL_DENIED', 'no-shell'],
    ['baseline.yaml', chat('gpt-4o', 'hi', { max_tokens: 10000 }), ['--org', 'acme'], 'deny',
        'NO_MATCHING_RULE', null],
    ['baseline.yaml', chat('gpt-4o'), ['--org', 'globex'], 'deny', 'NO_MATCHING_RULE', null],
    ['baseline.yaml', { model: 'text-embedding-3-small', input: 'x' },
        ['--org', 'acme', '--route', 'embeddings'], 'allow', 'ALLOWED', 'acme-embeddings'],
    ['baseline.yaml', {}, ['--role', 'admin', '--route', 'models'], 'allow', 'ALLOWED',
        'admins-list-models'],
    ['tools.yaml', chat('gpt-4o', 'hi', { tools: [tool('read_file'), tool('web_search')] }), [],
        'allow', 'ALLOWED', 'chat'],
    ['tools.yaml', chat('gpt-4o', 'hi', { tools: [tool('send_payment')] }), [], 'allow',
        'ALLOWED', 'chat'],
    ['tools.yaml', chat('gpt-4o'), ['--route', 'embeddings'], 'deny', 'NO_MATCHING_RULE', null],
    ['hours.yaml', chat('gpt-4o'), ['--agent', 'batch-7', '--cost', '0.01', '--time',
        String(TUE_1000_BERLIN)],
        'allow', 'ALLOWED', 'batch-office-hours'],
    ['hours.yaml', chat('gpt-4o'), ['--agent', 'batch-7', '--cost', '0.01', '--time',
        String(TUE_2313_BERLIN)],
        'deny', 'OUTSIDE_TIME_WINDOW', 'batch-otherwise'],
    // no --cost: an unknown cost is unbounded, so it is above the min of 5.00 (fail closed)
    ['hours.yaml', chat('gpt-4o'), ['--agent', 'chatbot'], 'require_approval',
        'APPROVAL_REQUIRED', 'big-calls-reviewed'],
    ['hours.yaml', chat('gpt-4o'), ['--agent', 'batch-7', '--cost', '7.5'], 'require_approval',
        'APPROVAL_REQUIRED', 'big-calls-reviewed'],
    ['hours.yaml', chat('gpt-4o'), ['--agent', 'chatbot', '--cost', '0.2'], 'allow', 'ALLOWED', 'interactive'],
    ['hours.yaml', chat('gpt-4o', 'hi', { max_tokens: 9000 }), ['--agent', 'chatbot', '--cost', '0.2'], 'deny',
        'NO_MATCHING_RULE', null],
];

let dir;
async function requestFile(i, body) {
    dir ??= await scope.tmpdir('bw-it-policy-');
    const f = path.join(dir, `req${i}.json`);
    fs.writeFileSync(f, JSON.stringify(body));
    return f;
}

for (const f of fs.readdirSync(POLICIES).filter((n) => n.endsWith('.yaml'))) {
    test(`policy check accepts docs/policies/${f}`, async () => {
        const r = await run(['policy', 'check', path.join(POLICIES, f)]);
        assert.equal(r.code, 0, r.stderr);
        const digest = sha256(fs.readFileSync(path.join(POLICIES, f)));
        assert.match(r.stdout, new RegExp(`sha256 ${digest}`));
    });
}

CASES.forEach(([policy, body, flags, decision, reason, rule], i) => {
    test(`policy eval ${policy} case ${i}: ${decision} ${reason}`, async () => {
        const file = path.join(POLICIES, policy);
        const req = await requestFile(i, body);
        const r = await run(['policy', 'eval', '--policy', file, '--request', req, ...flags]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.decision, decision, r.stdout);
        assert.equal(out.reason, reason, r.stdout);
        assert.equal(out.rule, rule, r.stdout);
        assert.equal(out.policy_sha256, sha256(fs.readFileSync(file)));
    });
});

test('policy eval reports a stripped tool and approval terms', async () => {
    const req = await requestFile('s', chat('gpt-4o', 'hi', { tools: [tool('web_search')] }));
    const r = await run(['policy', 'eval', '--policy', path.join(POLICIES, 'tools.yaml'),
        '--request', req]);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.tools.map((t) => [t.name, t.decision, t.rule]),
        [['web_search', 'strip', 'strip-web-search']]);
    const r2 = await run(['policy', 'eval', '--policy', path.join(POLICIES, 'hours.yaml'),
        '--request', req, '--cost', '9']);
    assert.deepEqual(JSON.parse(r2.stdout).approval,
        { reviewer_role: 'lead', quorum: 1, expires_in_s: 900 });
});

test('policy check names file and line of a bad policy and exits 1', async () => {
    const d = await scope.tmpdir('bw-it-policy-bad-');
    const cases = [
        ['version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {modle: x}\n', 5, /modle/],
        ['version: 1\nrules:\n  - id: a\n    effect: deny\n    match: {content: "(a+)+$"}\n', 5,
            /catastroph/],
        ['version: 1\nrules:\n  - id: a\n    effect: allow\n  - id: a\n    effect: allow\n', 5,
            /duplicate rule id/],
        ['version: 1\nrules:\n  - id: a\n    effect: allow\n    match: {max_tokens: many}\n', 5,
            /max_tokens/],
    ];
    for (const [i, [text, line, why]] of cases.entries()) {
        const f = path.join(d, `bad${i}.yaml`);
        fs.writeFileSync(f, text);
        const r = await run(['policy', 'check', f]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: `));
        assert.match(r.stderr, why);
        const e = await run(['policy', 'eval', '--policy', f, '--request', f]);
        assert.equal(e.code, 1, 'eval refuses a policy that does not check');
    }
});

test('policy eval: unreadable or malformed request exits 1; misuse exits 2', async () => {
    const d = await scope.tmpdir('bw-it-policy-req-');
    const bad = path.join(d, 'bad.json');
    fs.writeFileSync(bad, '{"model": "gpt-4o", "model": "x"}');
    const pol = path.join(POLICIES, 'baseline.yaml');
    let r = await run(['policy', 'eval', '--policy', pol, '--request', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /duplicate/);
    fs.writeFileSync(bad, '{"model": 5}');
    r = await run(['policy', 'eval', '--policy', pol, '--request', bad]);
    assert.equal(r.code, 1);
    r = await run(['policy', 'eval', '--policy', pol]);
    assert.equal(r.code, 2);
    r = await run(['policy', 'frob']);
    assert.equal(r.code, 2);
    r = await run(['policy', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage: bulwark policy/);
});

// Scenario: every reference in the documents resolves (issue 13: "a test fails when a document
// names a file, function, route or test that does not exist"). The security documents
// (docs/security/*.md, SECURITY.md) are checked strictly: every backticked repository path,
// `function()`, `bw_identifier`, `METHOD /route` and `test file: "title"` must exist
// (conventions: docs/security/MODEL.md "How to read these pages"), and a function named with its
// file (`f()` (`src/x.c`), `f()`, `src/x.c`, `f()` in `src/x.c`) must be defined there. The
// other documents are checked for paths under the source folders, functions, routes and tests,
// and functions named with their file. The checker itself
// is shown to refuse each kind of broken reference, so a silent pass cannot hide a broken one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { indexRepo, checkFile, checkText } from './lib/doclinks.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const idx = indexRepo(root);
const mdIn = (dir) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.md'))
    .map((f) => `${dir}/${f}`);
const fmt = (doc, errs) => errs.map((e) => `${doc}:${e.line}: ${e.ref}: ${e.why}`).join('\n');

const SECURITY_DOCS = ['MODEL.md', 'THREAT_MODEL.md', 'TCB.md', 'KEY_MANAGEMENT.md',
    'VERIFIER_TRUST_MODEL.md', 'OPERATIONS.md'];

test('every security document exists', () => {
    for (const d of SECURITY_DOCS) assert.ok(existsSync(join(root, 'docs/security', d)), d);
    assert.ok(existsSync(join(root, 'SECURITY.md')), 'SECURITY.md');
});

test('security documents: every file, function, route and test they name exists', () => {
    const docs = ['SECURITY.md', ...mdIn('docs/security')];
    const report = docs.map((d) => fmt(d, checkFile(idx, d, { strict: true }))).filter(Boolean);
    assert.equal(report.join('\n'), '');
});

test('security documents point at tests: each names at least one test', () => {
    for (const d of SECURITY_DOCS.filter((d) => d !== 'OPERATIONS.md')) {
        const text = readFileSync(join(root, 'docs/security', d), 'utf8');
        assert.match(text, /`tests\/[^`]+(\.test\.mjs: "|\.c: )/, `${d} names no test`);
    }
});

test('other documents: every reference resolves', () => {
    const docs = ['README.md', ...mdIn('docs')];
    const report = docs.map((d) => fmt(d, checkFile(idx, d, { strict: false }))).filter(Boolean);
    assert.equal(report.join('\n'), '');
});

test('the checker refuses each kind of broken reference', () => {
    const broken = [
        '`src/proxy/no_such_file.c`',
        '[a link](../no/such/file.md)',
        '`bw_no_such_function()`',
        '`bw_no_such_identifier`',
        '`GET /api/v1/no-such-route`',
        '`DELETE /api/v1/keys`',
        '`tests/integration/http_strict.test.mjs: "no test has this title"`',
        '`tests/integration/no_such.test.mjs: "x"`',
        '`tests/unit/http/test_framing.c: no_such_cmocka_test`',
        '`docs/security/*.nosuch`',
        '`bw_policy_budget_init()` (`src/policy/engine_match.c`)',
        '`bw_http_head_check()` in `src/http/server_guard.c`',
    ];
    for (const line of broken) {
        const errs = checkText(idx, 'docs/security/X.md', `text ${line} text\n`, { strict: true });
        assert.equal(errs.length, 1, `not refused: ${line}`);
    }
    const good = [
        '`src/proxy/proxy_call.c`', '[a link](../EVIDENCE.md)', '`bw_http_head_check()`',
        '`bw_vault_rewrap`', '`GET /healthz`', '`POST /api/v1/keys/{id}/revoke`',
        '`GET /v1/models`', '`POST /widget/v1/{public_key}/chat`',
        '`tests/unit/http/test_framing.c: bearer_is_exact`', '`tests/integration/*.test.mjs`',
        '`bw_policy_budget_init()` (`src/policy/engine_eval.c`)',
        '`bw_http_head_check()` in `src/http/framing.c`',
    ];
    for (const line of good) {
        const errs = checkText(idx, 'docs/security/X.md', `text ${line} text\n`, { strict: true });
        assert.deepEqual(errs, [], `refused: ${line}`);
    }
});

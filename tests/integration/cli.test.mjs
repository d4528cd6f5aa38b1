// Scenario: the command line. version, --help on every subcommand, misuse exits 2 with one
// error line, runtime failure exits 1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, run, initData } from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SUBCOMMANDS = ['init', 'serve', 'mock-upstream', 'mock-mcp', 'version'];

test('bulwark version prints the version and exits 0', async () => {
    const r = await run(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^bulwark \d+\.\d+\.\d+\S*\n$/);
    assert.equal(r.stderr, '');
    const r2 = await run(['--version']);
    assert.equal(r2.code, 0);
    assert.equal(r2.stdout, r.stdout);
});

test('bulwark --help lists every subcommand and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of SUBCOMMANDS) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
});

for (const cmd of SUBCOMMANDS) {
    test(`bulwark ${cmd} --help prints usage to stdout and exits 0`, async () => {
        const r = await run([cmd, '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /usage:/i);
        assert.match(r.stdout, new RegExp(`bulwark ${cmd}`));
    });

    test(`bulwark ${cmd} with an unknown flag exits 2 with one error line`, async () => {
        const r = await run([cmd, '--no-such-flag']);
        assert.equal(r.code, 2, `exit ${r.code}; stderr: ${r.stderr}`);
        assert.equal(r.stdout, '', 'nothing on stdout on misuse');
        const lines = r.stderr.split('\n');
        // One error line naming the command and the flag; anything after it is the usage text
        // (src/cli/cli.h: misuse prints the line plus the usage).
        assert.match(lines[0], new RegExp(`^bulwark ${cmd}: .*no-such-flag`));
        const rest = lines.slice(1).join('\n');
        if (rest.trim() !== '') {
            const help = await run([cmd, '--help']);
            assert.equal(rest.trim(), help.stdout.trim(), 'text after the error line is not the usage');
        }
    });
}

test('an unknown subcommand or no arguments exits 2', async () => {
    const r = await run(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr.split('\n')[0], /frobnicate/);
    const r2 = await run([]);
    assert.equal(r2.code, 2);
});

test('serve on a data dir that does not exist fails with exit 1 and one line', async () => {
    const parent = await scope.tmpdir();
    const r = await run(['serve', '--data', path.join(parent, 'nope'), '--listen', '127.0.0.1:0'],
                        { timeoutMs: 10000 });
    assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `stderr: ${r.stderr}`);
    assert.ok(!fs.existsSync(path.join(parent, 'nope')), 'serve created the missing data dir');
});

test('serve with a malformed --listen exits 2', async () => {
    const data = await initData(scope);
    for (const bad of ['not-a-hostport', '127.0.0.1:99999', '127.0.0.1:', ':8080']) {
        const r = await run(['serve', '--data', data.dir, '--listen', bad]);
        assert.equal(r.code, 2, `--listen ${bad}: exit ${r.code}; stderr: ${r.stderr}`);
        assert.match(r.stderr.split('\n')[0], /^bulwark serve: /);
    }
});

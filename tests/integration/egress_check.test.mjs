// bulwark egress check: the save-time URL rules from the command line (no DNS needed: literals
// and name rules), the allowlist, and the CLI conventions (--help, misuse exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from './lib/harness.mjs';

const check = (url, ...allow) => run(['egress', 'check', url, ...allow.flatMap((a) => ['--allow', a])]);

test('literal public addresses are allowed', async () => {
    for (const u of ['https://8.8.8.8/', 'http://[2001:4860:4860::8888]:8443/x']) {
        const r = await check(u);
        assert.equal(r.code, 0, `${u}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, 'allow\n');
    }
});

test('blocked URLs print one block line and exit 3', async () => {
    const cases = [
        ['http://10.0.0.1/', /RFC 1918/],
        ['http://169.254.169.254/latest/meta-data/', /metadata/],
        ['http://[::ffff:127.0.0.1]/', /loopback/],
        ['http://0x7f.1/', /canonical/],
        ['http://2130706433/', /canonical/],
        ['http://user@example.com/', /userinfo/],
        ['ftp://example.com/', /http and https/],
        ['http://localhost:8080/', /single-label/],
        ['http://metadata.google.internal/', /reserved/],
        ['http://[fe80::1%25eth0]/', /zone/],
        ['http://example.com:0/', /1\.\.65535/],
    ];
    for (const [u, re] of cases) {
        const r = await check(u);
        assert.equal(r.code, 3, `${u}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /^block: .+\n$/, u);
        assert.match(r.stdout, re, u);
        assert.equal(r.stdout.split('\n').length, 2, 'exactly one line');
    }
});

test('the allowlist opens exactly what it names', async () => {
    assert.equal((await check('http://127.0.0.1:8080/', '127.0.0.1:8080')).code, 0);
    assert.equal((await check('http://127.0.0.1:8081/', '127.0.0.1:8080')).code, 3);
    assert.equal((await check('http://10.9.8.7/', '10.9.0.0/16')).code, 0);
    assert.equal((await check('http://10.10.0.1/', '10.9.0.0/16')).code, 3);
    assert.equal((await check('http://[::1]:7000/', '[::1]:7000')).code, 0);
});

test('--help and misuse', async () => {
    const h = await run(['egress', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: bulwark egress check URL/);
    for (const args of [['egress'], ['egress', 'nope'], ['egress', 'check'],
                        ['egress', 'check', 'http://a.com/', 'extra'],
                        ['egress', 'check', 'http://a.com/', '--max-bytes', '5'],
                        ['egress', 'check', 'http://a.com/', '--allow'],
                        ['egress', 'check', 'http://a.com/', '--allow', '10.0.0.1/8'],
                        ['egress', 'fetch', 'http://a.com/', '--max-bytes', 'x']]) {
        const r = await run(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /^bulwark egress: .+\n/);
        assert.equal(r.stdout, '');
    }
});

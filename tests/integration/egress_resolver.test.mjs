// bulwark egress check against a resolver the test controls: a hosts file bind-mounted over
// /etc/hosts in a private mount namespace. Names resolving to private addresses, and names with
// mixed public and private records, are blocked; every record must be allowed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, runWithHosts, hostsNamespaceUnavailable } from './lib/harness.mjs';

const scope = new Scope();
let hosts;
let skip = null;

before(async () => {
    skip = await hostsNamespaceUnavailable();
    const d = await scope.tmpdir('bw-it-egress-');
    hosts = path.join(d, 'hosts');
    await fsp.writeFile(hosts, [
        '8.8.8.8 public.bw-egress.example',
        '2001:4860:4860::8888 public6.bw-egress.example',
        '10.1.2.3 private.bw-egress.example',
        '169.254.169.254 meta.bw-egress.example',
        '::1 loop6.bw-egress.example',
        '::ffff:127.0.0.1 mapped.bw-egress.example',
        '8.8.8.8 mixed.bw-egress.example',
        '10.0.0.1 mixed.bw-egress.example',
        '2001:4860:4860::8888 mixed6.bw-egress.example',
        'fd00::1 mixed6.bw-egress.example',
        '',
    ].join('\n'));
});
after(() => scope.cleanup());

const check = (url, ...extra) => runWithHosts(hosts, ['egress', 'check', url, ...extra]);

test('names resolving only to public addresses are allowed', async (t) => {
    if (skip) return t.skip(skip);
    for (const h of ['public', 'public6']) {
        const r = await check(`https://${h}.bw-egress.example/v1`);
        assert.equal(r.code, 0, `${h}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, 'allow\n');
    }
});

test('names resolving to private, metadata or loopback addresses are blocked', async (t) => {
    if (skip) return t.skip(skip);
    const cases = [['private', /10\.1\.2\.3 is private-use/], ['meta', /metadata/],
                   ['loop6', /::1 is loopback/], ['mapped', /loopback/]];
    for (const [h, re] of cases) {
        const r = await check(`http://${h}.bw-egress.example/`);
        assert.equal(r.code, 3, `${h}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /^block: .*resolves to a blocked address/);
        assert.match(r.stdout, re);
    }
});

test('mixed records block: one private A or AAAA among public ones is enough', async (t) => {
    if (skip) return t.skip(skip);
    const a = await check('http://mixed.bw-egress.example/');
    assert.equal(a.code, 3, a.stdout);
    assert.match(a.stdout, /10\.0\.0\.1/);
    const aaaa = await check('http://mixed6.bw-egress.example/');
    assert.equal(aaaa.code, 3, aaaa.stdout);
    assert.match(aaaa.stdout, /fd00::1 is unique-local/);
});

test('a CIDR allowlist entry admits a name whose addresses it covers', async (t) => {
    if (skip) return t.skip(skip);
    const r = await check('http://private.bw-egress.example/', '--allow', '10.1.0.0/16');
    assert.equal(r.code, 0, r.stdout);
    const m = await check('http://mixed.bw-egress.example/', '--allow', '10.1.0.0/16');
    assert.equal(m.code, 3, 'the entry does not cover 10.0.0.1');
});

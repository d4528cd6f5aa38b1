// Scenario: `make install DESTDIR=... PREFIX=...` puts the binary, a hardened systemd unit and the
// man page bulwark(1) in place (README "Install"). The unit carries every hardening setting
// (the last assignment of each key is the one systemd uses) and passes `systemd-analyze verify`
// when systemd is installed; the man page renders without a warning and has a section for every
// subcommand `bulwark --help` lists, naming every option that subcommand's --help names.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BIN = process.env.BULWARK_BIN || path.join(root, 'build/bulwark');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-install-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });
const have = (cmd) => sh('sh', ['-c', `command -v ${cmd}`]).status === 0;
const PREFIX = '/opt/bw';
const dest = path.join(tmp, 'root');
const installed = {
    bin: path.join(dest, PREFIX, 'bin/bulwark'),
    unit: path.join(dest, PREFIX, 'lib/systemd/system/bulwark.service'),
    man: path.join(dest, PREFIX, 'share/man/man1/bulwark.1'),
};

let made;
function install() {
    if (!made) {
        // A clean make: not the outer make's flags (make asan/tsan run this file from make).
        const env = { ...process.env };
        for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES']) delete env[k];
        made = sh('make', ['-s', '-C', root, 'install', `DESTDIR=${dest}`, `PREFIX=${PREFIX}`,
            `INSTALL_BIN=${BIN}`], { env });
    }
    assert.equal(made.status, 0, `make install failed: ${made.stderr}`);
}

// The unit's [Service] settings: the last value of each key, and every value of the ones
// systemd accumulates.
function unitSettings(text) {
    const last = new Map();
    const all = new Map();
    let section = '';
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#') || line.startsWith(';')) continue;
        const s = line.match(/^\[(.+)\]$/);
        if (s) { section = s[1]; continue; }
        const kv = line.match(/^([A-Za-z]+)=(.*)$/);
        assert.ok(kv, `not a setting: ${line}`);
        const key = `${section}.${kv[1]}`;
        last.set(key, kv[2]);
        all.set(key, [...(all.get(key) || []), kv[2]]);
    }
    return { last, all };
}

test('make install puts the binary, the unit and the man page under DESTDIR and PREFIX', () => {
    install();
    for (const [what, file] of Object.entries(installed))
        assert.ok(fs.statSync(file).isFile(), `${what} not installed at ${file}`);
    assert.equal(fs.statSync(installed.bin).mode & 0o777, 0o755);
    assert.equal(fs.statSync(installed.unit).mode & 0o777, 0o644);
    assert.equal(fs.statSync(installed.man).mode & 0o777, 0o644);
    const r = sh(installed.bin, ['version']);
    assert.equal(r.status, 0, 'the installed binary runs');
});

test('the unit runs the installed binary as a dedicated user with every hardening setting', () => {
    install();
    const { last, all } = unitSettings(fs.readFileSync(installed.unit, 'utf8'));
    const svc = (k) => last.get(`Service.${k}`);
    assert.equal(svc('ExecStart'), `${PREFIX}/bin/bulwark serve --data /var/lib/bulwark/data`);
    assert.match(svc('ExecReload'), /^\/bin\/kill -HUP \$MAINPID$/);
    assert.ok(svc('User') && svc('User') !== 'root' && svc('User') !== '0', 'a dedicated user');
    const want = {
        NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
        PrivateDevices: 'yes', ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes',
        ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes', RestrictNamespaces: 'yes',
        LockPersonality: 'yes', MemoryDenyWriteExecute: 'yes', RestrictSUIDSGID: 'yes',
        RestrictRealtime: 'yes', ProtectClock: 'yes', ProtectHostname: 'yes',
        SystemCallArchitectures: 'native', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
        CapabilityBoundingSet: '', AmbientCapabilities: '', ReadWritePaths: '/var/lib/bulwark',
        StateDirectory: 'bulwark', StateDirectoryMode: '0700', UMask: '0077',
    };
    for (const [k, v] of Object.entries(want)) assert.equal(svc(k), v, `${k}=${v}`);
    // Only one writable place, and the data directory is inside it.
    assert.deepEqual(all.get('Service.ReadWritePaths'), ['/var/lib/bulwark']);
    const filters = all.get('Service.SystemCallFilter') || [];
    assert.ok(filters.includes('@system-service'), 'SystemCallFilter=@system-service');
    assert.ok(!filters.some((f) => f.startsWith('@') && f !== '@system-service'),
        'no allow-list beyond @system-service');
    for (const k of ['ExecStartPre', 'ExecStartPost', 'PermissionsStartOnly', 'ReadOnlyPaths'])
        assert.equal(svc(k), undefined, `${k} is not set`);
});

test('systemd-analyze verifies the unit (when systemd is installed)', (t) => {
    install();
    if (!have('systemd-analyze')) { t.skip('systemd-analyze is not installed'); return; }
    // verify checks that ExecStart exists and that man:bulwark(1) resolves: point both at DESTDIR.
    const dir = path.join(tmp, 'verify');
    fs.mkdirSync(dir, { recursive: true });
    const unit = path.join(dir, 'bulwark.service');
    fs.writeFileSync(unit, fs.readFileSync(installed.unit, 'utf8')
        .replaceAll(`${PREFIX}/bin/bulwark`, installed.bin));
    const env = { ...process.env, MANPATH: path.join(dest, PREFIX, 'share/man') };
    const v = sh('systemd-analyze', ['verify', unit], { env });
    assert.equal(v.status, 0, v.stderr);
    // Every remark about this unit fails the test (an unknown key is only a warning to systemd);
    // remarks about the host's own units are not ours.
    const ours = v.stderr.split('\n').filter((l) => l.includes('bulwark'));
    assert.deepEqual(ours, [], 'systemd-analyze verify remarks on the unit');
    // The offline exposure score: 'OK' or better (systemd's own scale, 0 safe .. 10 exposed).
    const s = sh('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit], { env });
    const m = `${s.stdout}${s.stderr}`.match(/Overall exposure level for \S+: ([0-9.]+)/);
    if (!m) { t.diagnostic('systemd-analyze security --offline is not supported'); return; }
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} above 2.0`);
});

// Subcommands from `bulwark --help`: the lines under "commands:".
function subcommands() {
    const r = sh(BIN, ['--help']);
    assert.equal(r.status, 0);
    const lines = r.stdout.split('commands:\n')[1].split('\n\n')[0].split('\n');
    const names = lines.map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
    assert.ok(names.length >= 10, `too few subcommands parsed: ${names}`);
    return names;
}

test('the man page renders without warnings', (t) => {
    install();
    const g = sh('groff', ['-man', '-Tutf8', '-ww', '-z', installed.man]);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stderr, '', 'groff warnings');
    if (!have('man')) { t.diagnostic('man is not installed; groff only'); return; }
    const m = sh('man', ['--warnings', '-l', installed.man],
        { env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '100' } });
    assert.equal(m.status, 0, m.stderr);
    assert.equal(m.stderr, '', 'man warnings');
    assert.match(m.stdout, /^NAME\n\s+bulwark - /m);
});

test('the man page has a section for every subcommand, naming each of its options', () => {
    install();
    const src = fs.readFileSync(installed.man, 'utf8').replaceAll('\\-', '-');
    const sections = new Map();
    for (const part of src.split(/^\.SS /m).slice(1)) {
        const [head, ...rest] = part.split('\n');
        sections.set(head.trim(), rest.join('\n'));
    }
    for (const cmd of subcommands()) {
        assert.ok(sections.has(cmd), `no .SS section for ${cmd}`);
        const help = sh(BIN, [cmd, '--help']);
        assert.equal(help.status, 0, `${cmd} --help`);
        const flags = new Set(help.stdout.match(/--[a-z][a-z-]*/g) || []);
        for (const f of flags)
            assert.ok(sections.get(cmd).includes(f), `bulwark(1) ${cmd}: ${f} is not named`);
    }
    // And the rendered page shows each command as a heading.
    const out = sh('groff', ['-man', '-Tascii', installed.man]).stdout.replace(/.\x08/g, '');
    for (const cmd of subcommands())
        assert.match(out, new RegExp(`^ {3}${cmd}$`, 'm'), `rendered heading ${cmd}`);
});

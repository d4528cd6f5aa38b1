// Bring your own key (docs/API.md "Provider key"): an org stores its own upstream provider key
// through the write-only API; it is sealed in the vault and from then on sent upstream on that
// org's calls instead of the platform key. The mock upstream records the Authorization it saw
// (/__mock/stats). Deleting the key brings the platform key back at once. The key never appears
// in an answer, the log, the database file or an evidence pack.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Scope, startGateway, startMock, postJson, chatBody, run, assertError } from './lib/harness.mjs';
import { api } from './lib/tenants.mjs';

const scope = new Scope();
after(() => scope.cleanup());

test('an org provider key replaces the platform key on its upstream calls', async () => {
    const mock = await startMock(scope);
    const gw = await startGateway(scope, { upstream: mock });
    const admin = gw.keys.admin_key, agent = gw.keys.agent_key;
    const ORG_KEY = `sk-org-CANARY${crypto.randomBytes(16).toString('hex')}`;
    const seen = [];
    const call = async (...a) => {
        const r = await api(gw.port, ...a);
        seen.push(r.text + JSON.stringify(r.headers));
        return r;
    };
    const chat = async () => {
        const r = await postJson(gw.port, '/v1/chat/completions', chatBody(), { key: agent });
        assert.equal(r.status, 200, r.text);
        return (await mock.stats()).last_authorization;
    };

    assert.equal(await chat(), `Bearer ${gw.upstreamKey}`);
    assertError(await call('GET', '/api/v1/provider-key', admin), 404, 'NOT_FOUND');
    assertError(await call('PUT', '/api/v1/provider-key', admin, { secret: 'two words' }), 400, 'INVALID_REQUEST');
    assertError(await call('PUT', '/api/v1/provider-key', agent, { secret: ORG_KEY }), 403, 'ROLE_FORBIDDEN');

    const put = await call('PUT', '/api/v1/provider-key', admin, { secret: ORG_KEY });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.fingerprint, `…${ORG_KEY.slice(-4)}`);
    assert.match(put.headers['bulwark-receipt-id'], /^[0-9a-f]{8}\.\d+$/);
    assert.equal(await chat(), `Bearer ${ORG_KEY}`, 'the org key was not used');

    // replaced: the same record id, the new key in use at once
    const ORG_KEY2 = `sk-org-CANARY${crypto.randomBytes(16).toString('hex')}`;
    const put2 = await call('PUT', '/api/v1/provider-key', admin, { secret: ORG_KEY2 });
    assert.equal(put2.status, 200, put2.text);
    assert.equal(put2.json.id, put.json.id);
    assert.equal(await chat(), `Bearer ${ORG_KEY2}`);
    const got = await call('GET', '/api/v1/provider-key', admin);
    assert.equal(got.status, 200);
    assert.equal(got.json.fingerprint, `…${ORG_KEY2.slice(-4)}`);

    const del = await call('DELETE', '/api/v1/provider-key', admin);
    assert.equal(del.status, 200, del.text);
    assert.equal(await chat(), `Bearer ${gw.upstreamKey}`, 'the platform key did not come back');
    assertError(await call('DELETE', '/api/v1/provider-key', admin), 404, 'NOT_FOUND');

    const pack = path.join(gw.data.parent, 'pack.tar');
    assert.equal((await run(['export', '--data', gw.dir, '--out', pack])).code, 0);
    const places = { responses: seen.join('\n'), log: gw.proc.stderr,
                     pack: fs.readFileSync(pack).toString('latin1') };
    for (const f of fs.readdirSync(gw.dir).filter((f) => f.startsWith('bulwark.db')))
        places[f] = fs.readFileSync(path.join(gw.dir, f)).toString('latin1');
    for (const [name, text] of Object.entries(places))
        for (const k of [ORG_KEY, ORG_KEY2])
            assert.ok(!text.includes(k) && !text.includes(k.slice(7)), `${name} holds the org key`);
});

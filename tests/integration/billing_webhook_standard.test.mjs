// Scenario: Standard Webhooks-signed billing events (official `standardwebhooks` package) are
// accepted; wrong secret, tampered body, old/future timestamps and malformed headers are
// refused; a redelivery of the same webhook-id (fresh timestamp and signature) applies once.
// Also: a gateway whose configured secret is missing refuses webhooks with 503 (fail closed),
// and usage export is tenant-scoped and admin-only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import {
    Scope, startGatewayWithYaml, postWebhook, getWithKey, assertError,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = 'whsec_' + crypto.randomBytes(32).toString('base64');
const wh = new Webhook(SECRET);
const YAML = `billing:
  standard_secret_env: BW_TEST_STD_WHSEC
plans:
  pro:
    monthly_tokens: 777
`;

let gw;
before(async () => {
    gw = await startGatewayWithYaml(scope, YAML, { env: { BW_TEST_STD_WHSEC: SECRET } });
});

const nowS = () => Math.floor(Date.now() / 1000);
function headers(id, payload, { date = new Date(), signer = wh } = {}) {
    return {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
        'webhook-signature': signer.sign(id, date, payload),
    };
}
const event = (type, plan, created = nowS()) => JSON.stringify({
    type, created, data: { object: { metadata: { bulwark_org: 'default', bulwark_plan: plan } } },
});

test('a Standard Webhooks signature is accepted and applied once per webhook-id', async () => {
    const payload = event('customer.subscription.updated', 'pro');
    const id = `msg_${crypto.randomBytes(8).toString('hex')}`;
    const r = await postWebhook(gw.port, payload, headers(id, payload));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'applied');
    const b = await getWithKey(gw.port, '/api/v1/budget', gw.keys.agent_key);
    assert.equal(b.json.plan, 'pro');
    assert.equal(b.json.monthly_tokens, 777);
    // redelivery: same id, new timestamp and signature
    const again = await postWebhook(gw.port, payload,
                                    headers(id, payload, { date: new Date(Date.now() + 3000) }));
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.status, 'duplicate');
});

test('bad signatures, timestamps and headers are refused', async () => {
    const payload = event('invoice.paid', 'pro', nowS() + 50);
    const id = 'msg_bad1';
    const other = new Webhook('whsec_' + crypto.randomBytes(32).toString('base64'));
    assertError(await postWebhook(gw.port, payload, headers(id, payload, { signer: other })), 401,
                'WEBHOOK_SIGNATURE_INVALID', { receipt: false });
    const h = headers(id, payload);
    assertError(await postWebhook(gw.port, payload + ' ', h), 401, 'WEBHOOK_SIGNATURE_INVALID');
    assertError(await postWebhook(gw.port, payload, { ...h, 'webhook-id': 'msg_other' }), 401,
                'WEBHOOK_SIGNATURE_INVALID');
    for (const skew of [-400, 400]) {
        const d = new Date(Date.now() + skew * 1000);
        assertError(await postWebhook(gw.port, payload, headers(id, payload, { date: d })), 401,
                    'WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
    }
    for (const bad of [{ 'webhook-timestamp': 'soon' }, { 'webhook-signature': 'v1,@@@' },
                       { 'webhook-signature': 'v1a,abc' }, { 'webhook-id': '' }]) {
        assertError(await postWebhook(gw.port, payload, { ...h, ...bad }), 400,
                    'WEBHOOK_HEADER_MALFORMED');
    }
    // the signature of several entries: one valid is enough
    const multi = { ...h, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ` +
                                              h['webhook-signature'] };
    const ok = await postWebhook(gw.port, payload, multi);
    assert.equal(ok.json.status, 'applied', ok.text);
});

test('usage export: admin only, own org only, JSON and CSV', async () => {
    const db = path.join(gw.dir, 'bulwark.db');
    const t = Date.now() - 1000;
    const rows = [
        ['use_a1', gw.keys.org_id, 'bot', 'gpt-4o-mini', 10, 5, 7],
        ['use_a2', gw.keys.org_id, 'bot', 'gpt-4o', 20, 10, 90],
        ['use_a3', gw.keys.org_id, '=cmd', 'gpt-4o', 1, 1, 1],
    ];
    const sql = ["INSERT INTO orgs(id,name,created_ms) VALUES ('org_other','other',0);"];
    for (const [id, org, agent, model, p, c, cost] of rows)
        sql.push(`INSERT INTO usage VALUES ('${id}','${org}','${agent}','k','${model}',${p},${c},` +
                 `${p + c},${cost},'ok',${t},${t + 5},0,'',0);`);
    sql.push(`INSERT INTO usage VALUES ('use_o1','org_other','x','k','gpt-4o',1000,1000,2000,` +
             `5000,'ok',${t},${t},0,'',0);`);
    execFileSync('sqlite3', [db, sql.join('\n')]);

    assertError(await getWithKey(gw.port, '/api/v1/usage', gw.keys.agent_key), 403,
                'ROLE_FORBIDDEN');
    const all = await getWithKey(gw.port, '/api/v1/usage', gw.keys.admin_key);
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.org_id, gw.keys.org_id);
    assert.deepEqual(all.json.rows, [{ calls: 3, prompt_tokens: 31, completion_tokens: 16,
                                       total_tokens: 47, cost_micros: 98 }]);
    const by = await getWithKey(gw.port, '/api/v1/usage?group_by=model', gw.keys.admin_key);
    assert.deepEqual(by.json.rows.map((r) => [r.group, r.calls, r.cost_micros]),
                     [['gpt-4o', 2, 91], ['gpt-4o-mini', 1, 7]]);
    const day = await getWithKey(gw.port, '/api/v1/usage?group_by=day', gw.keys.admin_key);
    assert.equal(day.json.rows[0].group, new Date(t).toISOString().slice(0, 10));
    const csv = await getWithKey(gw.port, '/api/v1/usage?group_by=agent&format=csv',
                                 gw.keys.admin_key);
    assert.equal(csv.status, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.equal(csv.text, 'group,calls,prompt_tokens,completion_tokens,total_tokens,cost_micros\r\n' +
                           '"\'=cmd",1,1,1,2,1\r\n"bot",2,30,15,45,97\r\n');
    const empty = await getWithKey(gw.port, `/api/v1/usage?from=${t + 10}`, gw.keys.admin_key);
    assert.deepEqual(empty.json.rows, []);
    for (const q of ['group_by=org', 'format=xml', 'from=yesterday', 'bogus=1', 'from=5&to=5'])
        assertError(await getWithKey(gw.port, `/api/v1/usage?${q}`, gw.keys.admin_key), 400,
                    'INVALID_REQUEST');
    // the budget read sees the month's spend of its own org only
    const b = await getWithKey(gw.port, '/api/v1/budget', gw.keys.agent_key);
    assert.equal(b.json.spent_tokens, 0); // rows above are in month 0, not this month
});

test('a configured but missing secret stops serve from starting (fail closed)', async () => {
    await assert.rejects(startGatewayWithYaml(scope, 'billing:\n  stripe_secret_env: BW_TEST_NOT_SET\n'));
    const dead = scope.procs[scope.procs.length - 1];
    await dead.exited;
    assert.equal(dead.exitCode, 1);
    assert.match(dead.stderr, /BW_TEST_NOT_SET/);
});

test('a scheme with no secret configured is closed (503)', async () => {
    // gw has only the Standard Webhooks secret: Stripe-signed deliveries cannot be checked.
    const payload = event('invoice.paid', 'pro');
    const r = await postWebhook(gw.port, payload, { 'stripe-signature': `t=${nowS()},v1=${'0'.repeat(64)}` });
    assertError(r, 503, 'WEBHOOK_NOT_CONFIGURED');
    assert.ok(!gw.proc.stderr.includes('whsec_'), 'a secret reached the log');
});

// Scenario: Stripe-signed billing webhooks. Signatures made by the official `stripe` package
// are accepted and change the org's plan (seen through GET /api/v1/budget) with a durable admin
// receipt; tampered bodies, wrong secrets, old and future timestamps and malformed headers are
// refused with their reason codes; a replay and a retry with a fresh signature answer 200 and
// apply nothing twice; an older event arriving after a newer one changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import {
    Scope, startGatewayWithYaml, postWebhook, getWithKey, assertError, receipts, predicate,
    sha256, RECEIPT_ID_RE,
} from './lib/harness.mjs';

const scope = new Scope();
after(() => scope.cleanup());

const SECRET = 'whsec_test_' + 'a1b2c3d4e5f6'.repeat(3);
const stripe = new Stripe('sk_test_unused');
const now = () => Math.floor(Date.now() / 1000);

const YAML = `billing:
  stripe_secret_env: BW_TEST_STRIPE_WHSEC
plans:
  free:
    monthly_tokens: 1000
    monthly_cost_micros: 0
  pro:
    monthly_tokens: 5000000
    monthly_cost_micros: 20000000
  team:
    monthly_tokens: 9000000
budgets:
  default:
    monthly_tokens: 100
`;

let gw;
before(async () => {
    gw = await startGatewayWithYaml(scope, YAML, { env: { BW_TEST_STRIPE_WHSEC: SECRET } });
});

let seq = 0;
function event(type, { plan, org = 'default', created = now(), id } = {}) {
    seq++;
    const metadata = { bulwark_org: org };
    if (plan) metadata.bulwark_plan = plan;
    return {
        id: id || `evt_test_${Date.now()}_${seq}`,
        object: 'event',
        type,
        created,
        data: { object: { id: `sub_${seq}`, object: 'subscription', metadata } },
    };
}

function sign(payload, { secret = SECRET, timestamp = now() } = {}) {
    return stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

async function send(ev, opts = {}) {
    const payload = typeof ev === 'string' ? ev : JSON.stringify(ev);
    return postWebhook(gw.port, payload, { 'stripe-signature': sign(payload, opts) });
}

const budget = async () => {
    const r = await getWithKey(gw.port, '/api/v1/budget', gw.keys.agent_key);
    assert.equal(r.status, 200, r.text);
    return r.json;
};

test('before any event the config budget applies', async () => {
    const b = await budget();
    assert.equal(b.source, 'config');
    assert.equal(b.monthly_tokens, 100);
    assert.equal(b.monthly_cost_micros, -1);
    assert.equal(b.org, 'default');
    assert.equal(b.spent_tokens, 0);
    const anon = await postWebhook(gw.port, '{}', {});
    assertError(anon, 400, 'WEBHOOK_HEADER_MALFORMED', { receipt: false });
    const r = await getWithKey(gw.port, '/api/v1/budget', 'bwk_not_a_key');
    assertError(r, 401, 'UNAUTHENTICATED');
});

test('a signed invoice.paid raises the budget, with a durable admin receipt', async () => {
    const ev = event('invoice.paid', { plan: 'pro' });
    const payload = JSON.stringify(ev);
    const r = await send(payload);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'applied');
    assert.equal(r.json.event_id, ev.id);
    assert.match(r.json.receipt_id, RECEIPT_ID_RE);
    assert.equal(r.headers['bulwark-receipt-id'], r.json.receipt_id);
    const idx = Number(r.json.receipt_id.split('.')[1]);
    const rec = receipts(gw.dir).find((x) => predicate(x).log && predicate(x).log.index === idx);
    assert.ok(rec, 'admin receipt not in the ledger when the 200 arrived');
    const p = predicate(rec);
    assert.equal(p.kind, 'admin');
    assert.equal(p.reason, 'BILLING_EVENT_APPLIED');
    assert.equal(p.rule, ev.id);
    assert.equal(p.route, 'invoice.paid');
    assert.equal(p.status, 'pro');
    assert.equal(p.org_id, gw.keys.org_id);
    assert.equal(p.principal, 'webhook:stripe');
    assert.equal(p.decision, 'apply');
    assert.equal(rec.obj.subject[0].digest.sha256, sha256(payload));
    assert.ok(!rec.bytes.toString().includes(SECRET), 'secret in a receipt');
    const b = await budget();
    assert.equal(b.source, 'plan');
    assert.equal(b.plan, 'pro');
    assert.equal(b.monthly_tokens, 5000000);
    assert.equal(b.monthly_cost_micros, 20000000);
});

test('replay and a retry with a fresh signature apply once and answer 200', async () => {
    const ev = event('customer.subscription.updated', { plan: 'team' });
    const payload = JSON.stringify(ev);
    const header = sign(payload);
    const first = await postWebhook(gw.port, payload, { 'stripe-signature': header });
    assert.equal(first.json.status, 'applied', first.text);
    const before = receipts(gw.dir).length;
    const replay = await postWebhook(gw.port, payload, { 'stripe-signature': header });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.json.status, 'duplicate');
    const retry = await send(payload, { timestamp: now() + 2 });
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.json.status, 'duplicate');
    assert.equal(receipts(gw.dir).length, before, 'a duplicate wrote a receipt');
    // a different event then moves the plan; replaying the older one does not move it back
    const ev2 = event('customer.subscription.updated', { plan: 'pro', created: ev.created + 1 });
    assert.equal((await send(ev2)).json.status, 'applied');
    assert.equal((await send(payload)).json.status, 'duplicate');
    assert.equal((await budget()).plan, 'pro');
});

test('an older event arriving after a newer one changes nothing', async () => {
    const t = now() + 100; // newer than everything above
    const newer = event('customer.subscription.deleted', { created: t });
    const older = event('customer.subscription.updated', { plan: 'team', created: t - 50 });
    const r1 = await send(newer);
    assert.equal(r1.json.status, 'applied', r1.text);
    let b = await budget();
    assert.equal(b.plan, 'free');
    assert.equal(b.monthly_tokens, 1000);
    const n = receipts(gw.dir).length;
    const r2 = await send(older);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.status, 'stale');
    assert.equal(receipts(gw.dir).length, n, 'a stale event wrote a receipt');
    b = await budget();
    assert.equal(b.plan, 'free');
    // the stale event is recorded: sending it again is a duplicate
    assert.equal((await send(older)).json.status, 'duplicate');
    // a newer update wins again
    const r3 = await send(event('customer.subscription.updated', { plan: 'pro', created: t + 1 }));
    assert.equal(r3.json.status, 'applied');
    assert.equal((await budget()).plan, 'pro');
});

test('tampered body, wrong secret, old and future timestamps are refused', async () => {
    const ev = event('invoice.paid', { plan: 'team', created: now() + 1000 });
    const payload = JSON.stringify(ev);
    const header = sign(payload);
    const tampered = payload.replace('"team"', '"pro!"');
    assertError(await postWebhook(gw.port, tampered, { 'stripe-signature': header }), 401,
                'WEBHOOK_SIGNATURE_INVALID', { receipt: false });
    assertError(await send(payload, { secret: 'whsec_wrong' }), 401, 'WEBHOOK_SIGNATURE_INVALID');
    assertError(await send(payload, { timestamp: now() - 301 - 5 }), 401,
                'WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
    assertError(await send(payload, { timestamp: now() + 301 + 5 }), 401,
                'WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
    // within the tolerance in both directions
    const ok = await send(payload, { timestamp: now() - 200 });
    assert.equal(ok.json.status, 'applied', ok.text);
    assert.equal((await budget()).plan, 'team');
});

test('several v1 signatures (secret rotation): any valid one is enough', async () => {
    const ev = event('invoice.paid', { plan: 'pro', created: now() + 2000 });
    const payload = JSON.stringify(ev);
    const t = now();
    const good = sign(payload, { timestamp: t }).split(',')[1];
    const bad = sign(payload, { timestamp: t, secret: 'whsec_old' }).split(',')[1];
    const r = await postWebhook(gw.port, payload, { 'stripe-signature': `t=${t},${bad},v0=abc,${good}` });
    assert.equal(r.json.status, 'applied', r.text);
});

test('malformed headers and payloads have clear reason codes', async () => {
    const payload = JSON.stringify(event('invoice.paid', { plan: 'pro' }));
    for (const h of ['', 't=1', 'v1=' + 'a'.repeat(64), `t=abc,v1=${'a'.repeat(64)}`,
                     `t=${now()},v1=zz`, `t=${now()},v1=${'a'.repeat(64)},`, 'garbage']) {
        assertError(await postWebhook(gw.port, payload, { 'stripe-signature': h }), 400,
                    'WEBHOOK_HEADER_MALFORMED');
    }
    // both schemes at once is ambiguous
    assertError(await postWebhook(gw.port, payload, {
        'stripe-signature': sign(payload), 'webhook-signature': 'v1,AAAA',
    }), 400, 'WEBHOOK_HEADER_MALFORMED');
    // a valid signature over something that is not an event
    for (const bad of ['not json', '[]', '{"id":"evt_1","type":"invoice.paid"}']) {
        assertError(await send(bad), 400, 'WEBHOOK_PAYLOAD_INVALID');
    }
    // over billing.max_body_bytes (1 MiB)
    const big = JSON.stringify({ ...event('invoice.paid'), pad: 'x'.repeat((1 << 20) + 10) });
    assertError(await send(big), 413, 'WEBHOOK_BODY_TOO_LARGE');
    // unknown event types, orgs and plans are acknowledged and ignored
    const later = now() + 10000;
    for (const ev of [event('charge.succeeded'),
                      event('invoice.paid', { org: 'nobody', plan: 'pro', created: later }),
                      event('invoice.paid', { plan: 'platinum', created: later })]) {
        const r = await send(ev);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.status, 'ignored');
    }
    assert.equal((await budget()).plan, 'pro');
});

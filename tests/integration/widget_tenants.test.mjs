// Scenario: the widget across tenants, on SQLite and on PostgreSQL (row-level security; the key
// lookup is the one cross-tenant read, through bulwark_widget_lookup). Two orgs each enable a
// widget; each widget speaks for its own agent and org; a conversation id of org A's widget
// means nothing to org B's; each org's transcripts list only its own messages.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Scope, assertError, receiptAt, predicate, assertDecision } from './lib/harness.mjs';
import { startTenants, api } from './lib/tenants.mjs';
import { widgetPost, ORIGIN } from './lib/widget.mjs';

for (const backend of ['sqlite', 'pg']) {
    describe(`the widget on ${backend}`, () => {
        const scope = new Scope();
        let w;
        const A = {}, B = {};

        async function widgetFor(org, admin, name) {
            const a = await api(w.port, 'POST', '/api/v1/agents', admin, { name, model: 'gpt-4o-mini' });
            assert.equal(a.status, 201, a.text);
            const on = await api(w.port, 'POST', `/api/v1/agents/${a.json.id}/widget`, admin,
                                 { enabled: true, origins: [ORIGIN] });
            assert.equal(on.status, 200, on.text);
            org.agent = a.json.id;
            org.key = on.json.widget.public_key;
        }

        before(async () => {
            // org B is not in the config's orgs: a policy decides for both orgs instead
            const policy = path.join(await scope.tmpdir(), 'policy.yaml');
            await fsp.writeFile(policy, 'version: 1\nrules:\n  - id: widgets\n' +
                                '    match: {route: widget, model: gpt-4o-mini}\n    effect: allow\n');
            w = await startTenants(scope, backend, { yaml: `policy: ${policy}\n` });
            A.admin = w.A.admin;
            B.admin = w.B.owner;
            await widgetFor(A, A.admin, 'a-helper');
            await widgetFor(B, B.admin, 'b-helper');
        });

        after(async () => { await w?.stop(); await scope.cleanup(); });

        test('each widget answers for its own org and agent; transcripts stay in their org', async () => {
            const ra = await widgetPost(w.port, A.key, { message: 'hello from a shop of org A' });
            assert.equal(ra.status, 200, ra.text);
            const da = predicate(receiptAt(w.dir, assertDecision(ra, 'allow')));
            assert.equal(da.org_id, w.A.org_id);
            assert.equal(da.principal, `widget:${A.agent}`);
            assert.equal(da.agent, 'a-helper');
            const rb = await widgetPost(w.port, B.key, { message: 'hello from a shop of org B' });
            assert.equal(rb.status, 200, rb.text);
            const db = predicate(receiptAt(w.dir, assertDecision(rb, 'allow')));
            assert.equal(db.org_id, w.B.org_id);

            const ta = await api(w.port, 'GET', '/api/v1/transcripts', A.admin);
            assert.equal(ta.status, 200, ta.text);
            assert.deepEqual(ta.json.data.map((m) => [m.agent_id, m.role]),
                             [[A.agent, 'user'], [A.agent, 'assistant']]);
            assert.equal(ta.json.data[0].content, 'hello from a shop of org A');
            const tb = await api(w.port, 'GET', '/api/v1/transcripts', B.admin);
            assert.equal(tb.status, 200, tb.text);
            assert.deepEqual(tb.json.data.map((m) => m.agent_id), [B.agent, B.agent]);
            const cross = await api(w.port, 'GET', `/api/v1/transcripts?agent_id=${A.agent}`, B.admin);
            assert.equal(cross.status, 200, cross.text);
            assert.equal(cross.json.data.length, 0, 'org B reads org A\'s transcripts');

            // A's conversation through B's widget: unknown there, nothing stored in either org
            const hijack = await widgetPost(w.port, B.key, { conversation_id: ra.json.conversation_id,
                                                             message: 'continue their chat' });
            assertError(hijack, 404, 'NOT_FOUND', { receipt: false });
            const after = await api(w.port, 'GET', '/api/v1/transcripts', A.admin);
            assert.equal(after.json.data.length, 2);
        });

        test('disabling org B\'s widget leaves org A\'s working', async () => {
            const off = await api(w.port, 'POST', `/api/v1/agents/${B.agent}/widget`, B.admin,
                                  { enabled: false });
            assert.equal(off.status, 200, off.text);
            assertError(await widgetPost(w.port, B.key, { message: 'hi' }), 404, 'WIDGET_DISABLED',
                        { receipt: false });
            assert.equal((await widgetPost(w.port, A.key, { message: 'hi' })).status, 200);
            // org B cannot touch org A's widget
            const other = await api(w.port, 'POST', `/api/v1/agents/${A.agent}/widget`, B.admin,
                                    { enabled: false });
            assert.equal(other.status, 404, other.text);
            assert.equal((await widgetPost(w.port, A.key, { message: 'still here' })).status, 200);
        });
    });
}

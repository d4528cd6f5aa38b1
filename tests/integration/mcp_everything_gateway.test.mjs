// mcp_everything_gateway: the reference server `@modelcontextprotocol/server-everything`
// (streamableHttp) behind the real gateway, driven by the official SDK, all inside one private
// network namespace (lib/mcp.mjs). Between the gateway and server-everything sits a recording
// relay (lib/mcp_relay.mjs), so the test proves what reached the server, not only what the
// client saw. Then the run's evidence: every MCP receipt in an exported pack verifies with
// `bulwark verify` and with an independent check written here (docs/EVIDENCE.md).
//
// Covered: tools/list filtered by the policy (get-env invisible), allowed calls (echo, get-sum),
// OAuth callers (the 401's metadata, a token's list and calls, wrong audience and expired refused),
// get-env denied with a receipt and never forwarded, require_approval -> review -> approve ->
// the identical call with bulwark-approval once, the session bound to its key, resources/read
// and prompts/get decided (and their lists filtered), a refused tools/list with a receipt, and
// progress notifications of trigger-long-running-operation reaching the client, in order, before
// the result.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import canonicalize from 'canonicalize';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import {
    Scope, initData, configYaml, run, receipts, predicate, RECEIPT_ID_RE,
} from './lib/harness.mjs';
import { runInNamespace, everythingBash, serveBash, lastJson } from './lib/mcp.mjs';
import {
    sha, leafHash, parseVkey, verifyNote, parseCheckpoint, rootFromInclusion, parseTlogProof, untar,
} from './lib/evidence_check.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const scope = new Scope();
after(() => scope.cleanup());

const POLICY = `version: 1
rules:
  - {id: no-list-for-admins, match: {route: mcp.tools_list, role: admin}, effect: deny}
  - {id: list, match: {route: mcp.tools_list}, effect: allow}
  - {id: no-env, match: {route: mcp.tools_call, tool: get-env}, effect: deny, reason: TOOL_DENIED}
  - id: image-needs-review
    match: {route: mcp.tools_call, tool: get-tiny-image}
    effect: require_approval
    approval: {reviewer_role: reviewer}
  - id: calls
    match: {route: mcp.tools_call, tool: [echo, get-sum, trigger-long-running-operation]}
    effect: allow
  - id: no-instructions
    match: {resource: 'demo://resource/static/document/instructions.md'}
    effect: deny
    reason: RESOURCE_DENIED
  - {id: docs, match: {route: mcp.resources_read, resource: 'demo://resource/static/document/*'}, effect: allow}
  - {id: prompts, match: {route: mcp.prompts_get, prompt: [simple-prompt, args-prompt]}, effect: allow}
`;

const MCP_ROUTES = ['mcp.tools_call', 'mcp.tools_list', 'mcp.resources_read', 'mcp.prompts_get'];

// OAuth callers (MCP.md "OAuth callers") against server-everything too: a test issuer made
// here with jose; its JWK Set is the gateway's mcp.oauth.jwks_file (no network needed).
const PUBLIC = 'https://gw.example.com';
const ISSUER = 'https://idp.example.com';
const AUD = `${PUBLIC}/mcp/everything`;
async function oauthTokens(dir, orgId) {
    const key = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    await fsp.writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const now = Math.floor(Date.now() / 1000);
    const make = (o) => new SignJWT({ iss: ISSUER, aud: AUD, sub: 'alice', org: orgId, scope: 'mcp',
                                      iat: now, exp: now + 600, ...o })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).sign(key.privateKey);
    return {
        TOKEN_GOOD: await make({}),
        TOKEN_AUD: await make({ aud: `${PUBLIC}/mcp/other` }),
        TOKEN_EXPIRED: await make({ iat: now - 7200, exp: now - 3600 }),
    };
}

test('server-everything through the gateway: governed, receipted, and every MCP receipt verifies in a pack', async () => {
    const data = await initData(scope);
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), POLICY);
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml() + `policy: policy.yaml
egress:
  allow: ["127.0.0.1:3002"]   # the relay in the namespace: a private address the operator allows
mcp:
  servers:
    - name: everything
      url: http://127.0.0.1:3002/mcp
  oauth:
    issuer: ${ISSUER}
    public_url: ${PUBLIC}
    jwks_file: ${path.join(data.dir, 'jwks.json')}
    scopes: [mcp]
`);
    const tokens = await oauthTokens(data.dir, data.keys.org_id);
    const op = await run(['key', 'create', '--data', data.dir, '--operator', '--name', 'ops']);
    assert.equal(op.code, 0, op.stderr);
    const opKey = JSON.parse(op.stdout.trim().split('\n').pop()).key;
    const relayLog = path.join(data.parent, 'relay.jsonl');
    const r = await runInNamespace(
        everythingBash(3001) +
        `bw_start relay 'relay listening' node '${path.join(HERE, 'lib', 'mcp_relay.mjs')}' 3002 ` +
        `http://127.0.0.1:3001/mcp '${relayLog}'\n` +
        serveBash({ dataDir: data.dir, configPath, port: 8080 }) +
        `node '${path.join(HERE, 'lib', 'mcp_every_driver.mjs')}'\n`,
        {
            env: {
                BULWARK_UPSTREAM_KEY: 'sk-upstream-every', GW_PORT: '8080', SERVER: 'everything',
                AGENT_KEY: data.keys.agent_key, ADMIN_KEY: data.keys.admin_key, OP_KEY: opKey,
                ORG_ID: data.keys.org_id, ...tokens,
            },
            timeoutMs: 90000,
        },
    );
    assert.equal(r.code, 0, r.stderr);
    const o = lastJson(r.stdout);
    if (process.env.EVERY_DEBUG) console.error(JSON.stringify(o, null, 1).slice(0, 6000), r.stderr.slice(-4000));

    // tools/list filtered: get-env is invisible; the tool that needs review is listed
    assert.ok(Array.isArray(o.tools), JSON.stringify(o.tools));
    assert.ok(!o.tools.includes('get-env'), `get-env listed: ${o.tools}`);
    for (const t of ['echo', 'get-sum', 'trigger-long-running-operation', 'get-tiny-image'])
        assert.ok(o.tools.includes(t), `${t} missing from ${o.tools}`);
    assert.ok(!o.tools.includes('trigger-sampling-request'), 'a tool no rule allows is listed');
    // allowed calls
    assert.match(o.echo.content[0].text, /hi through bulwark/);
    assert.match(JSON.stringify(o.sum.content), /5/);
    // denied, with a receipt
    assert.equal(o.env.error.code, -32001);
    assert.equal(o.env.error.data.code, 'TOOL_DENIED');
    assert.match(o.env.error.data.receipt_id, RECEIPT_ID_RE);
    // resources and prompts: the lists filtered, the reads and gets decided
    assert.ok(o.resources.includes('demo://resource/static/document/architecture.md'), o.resources);
    assert.ok(!o.resources.includes('demo://resource/static/document/instructions.md'), o.resources);
    assert.ok(o.resources.every((u) => u.startsWith('demo://resource/static/document/')), o.resources);
    assert.deepEqual([...o.prompts].sort(), ['args-prompt', 'simple-prompt']);
    assert.equal(o.readDoc.contents[0].uri, 'demo://resource/static/document/architecture.md');
    assert.equal(o.readDenied.error.code, -32001);
    assert.equal(o.readDenied.error.data.code, 'RESOURCE_DENIED');
    assert.match(o.readDenied.error.data.receipt_id, RECEIPT_ID_RE);
    assert.equal(o.readUnlisted.error.data.code, 'NO_MATCHING_RULE');
    assert.match(JSON.stringify(o.prompt.messages), /Oslo/);
    assert.equal(o.promptDenied.error.code, -32001);
    assert.equal(o.promptDenied.error.data.code, 'NO_MATCHING_RULE');
    // progress notifications reach the client, then the result
    assert.deepEqual(o.progress.progress, [1, 2, 3], JSON.stringify(o.progress));
    assert.match(JSON.stringify(o.progress.result.content), /Long running operation completed/);
    // approval
    const a = o.approval;
    assert.equal(a.first.code, -32001, JSON.stringify(a));
    assert.equal(a.first.data.code, 'APPROVAL_REQUIRED');
    assert.match(a.first.data.review_id, /^rev_[0-9a-f]{16}$/);
    assert.equal(a.approve, 200);
    assert.equal(a.granted.content?.[0]?.type, 'text', JSON.stringify(a.granted));
    assert.equal(a.twice.error.data.code, 'APPROVAL_USED');
    // the session is bound to its key
    assert.equal(o.stolenSession.status, 404);
    // OAuth: the 401 names the metadata, which the gateway serves; a token for this server
    // lists (filtered) and calls; wrong audience and expired tokens are refused
    const oa = o.oauth;
    assert.equal(oa.none.status, 401, JSON.stringify(oa));
    assert.match(oa.none.challenge, /resource_metadata="https:\/\/gw\.example\.com\/\.well-known\/oauth-protected-resource\/mcp\/everything"/);
    assert.equal(oa.prm.resource, AUD);
    assert.deepEqual(oa.prm.authorization_servers, [ISSUER]);
    assert.ok(!oa.tools.includes('get-env') && oa.tools.includes('echo'), JSON.stringify(oa.tools));
    assert.match(oa.echo.content[0].text, /hi by token/);
    assert.equal(oa.env.error.data.code, 'TOOL_DENIED');
    assert.equal(oa.audience.status, 401);
    assert.equal(oa.audience.code, 'MCP_OAUTH_AUDIENCE');
    assert.equal(oa.expired.status, 401);
    assert.equal(oa.expired.code, 'MCP_OAUTH_EXPIRED');
    // a refused tools/list carries a receipt
    assert.equal(o.adminList.error.code, -32001, JSON.stringify(o.adminList));
    assert.equal(o.adminList.error.data.code, 'POLICY_DENIED');
    assert.match(o.adminList.error.data.receipt_id, RECEIPT_ID_RE);

    // What reached server-everything (through the relay): never a refused request.
    const seen = fs.readFileSync(relayLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const calls = (m, key, v) => seen.filter((s) => s.body?.method === m && s.body?.params?.[key] === v);
    assert.equal(calls('tools/call', 'name', 'get-env').length, 0, 'get-env reached the server');
    assert.equal(calls('tools/call', 'name', 'echo').length, 2); // the key's and the token's
    assert.equal(calls('tools/call', 'name', 'get-tiny-image').length, 1, 'one approved call');
    assert.equal(calls('resources/read', 'uri', 'demo://resource/static/document/instructions.md').length, 0);
    assert.equal(calls('resources/read', 'uri', 'demo://resource/dynamic/text/1').length, 0);
    assert.equal(calls('resources/read', 'uri', 'demo://resource/static/document/architecture.md').length, 1);
    assert.equal(calls('prompts/get', 'name', 'resource-prompt').length, 0);
    assert.equal(calls('prompts/get', 'name', 'args-prompt').length, 1);
    assert.ok(seen.some((s) => s.body?.method === 'tools/list'));
    for (const s of seen) {
        assert.ok(!JSON.stringify(s).includes('bwk_'), 'a Bulwark key reached the server');
        assert.ok(!JSON.stringify(s).includes('eyJ'), 'an access token reached the server');
        assert.equal(s.auth, null, 'the server has no credential configured: none is sent');
    }

    // The receipts in the ledger: each refusal's id names its decision receipt.
    const all = receipts(data.dir);
    const at = (id) => all.find((x) => predicate(x).log?.index === Number(RECEIPT_ID_RE.exec(id)[1]));
    const envR = predicate(at(o.env.error.data.receipt_id));
    assert.equal(envR.route, 'mcp.tools_call');
    assert.equal(envR.model, 'everything');
    assert.equal(envR.tool_calls[0].name, 'get-env');
    const readR = predicate(at(o.readDenied.error.data.receipt_id));
    assert.equal(readR.route, 'mcp.resources_read');
    assert.equal(readR.decision, 'deny');
    assert.equal(readR.rule, 'no-instructions');
    assert.equal(readR.tool_calls, undefined, 'a URI is not listed as a tool');
    assert.ok(!JSON.stringify(all.map((x) => x.obj)).includes('instructions.md'),
              'a resource URI is in a receipt (only its hash belongs there)');
    const promptR = predicate(at(o.promptDenied.error.data.receipt_id));
    assert.equal(promptR.route, 'mcp.prompts_get');
    assert.equal(promptR.tool_calls[0].name, 'resource-prompt');
    const listR = predicate(at(o.adminList.error.data.receipt_id));
    assert.equal(listR.route, 'mcp.tools_list');
    assert.equal(listR.decision, 'deny');
    assert.equal(listR.rule, 'no-list-for-admins');
    const mcp = all.filter((x) => MCP_ROUTES.includes(predicate(x).route));
    const outcomes = mcp.filter((x) => predicate(x).kind === 'outcome');
    assert.ok(outcomes.some((x) => predicate(x).route === 'mcp.resources_read'));
    assert.ok(outcomes.some((x) => predicate(x).route === 'mcp.prompts_get'));
    assert.ok(mcp.some((x) => predicate(x).kind === 'review' && predicate(x).route === 'mcp.tools_call'));

    // Export, then `bulwark verify` (every check passes) ...
    const pack = path.join(data.parent, 'pack.tar');
    const ex = await run(['export', '--data', data.dir, '--out', pack]);
    assert.equal(ex.code, 0, ex.stderr);
    const vkey = data.keys.public_key;
    const v = await run(['verify', '--trust', vkey, pack, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const rep = JSON.parse(v.stdout);
    assert.equal(rep.ok, true);
    for (const c of rep.checks.filter((x) => x.name !== 'receipt-signatures'))
        assert.equal(c.status, 'pass', `${c.name}: ${c.detail}`);

    // ... and the independent check of every MCP receipt in it (docs/EVIDENCE.md): canonical
    // bytes, included under the final checkpoint signed by the trusted key, in the profile's
    // MCP values, and each outcome's parent a decision of the pack with the same subject.
    const key = parseVkey(vkey);
    const members = untar(fs.readFileSync(pack));
    const byName = new Map(members.map((m) => [m.name, m.data]));
    const cps = members.filter((m) => m.name.startsWith('checkpoints/'));
    const fin = parseCheckpoint(await verifyNote(cps.at(-1).data, key), key);
    const inPack = members.filter((m) => m.name.startsWith('receipts/')).map((m) => ({
        m, obj: JSON.parse(m.data.toString('latin1')), leaf: leafHash(m.data).toString('hex'),
    }));
    const decisions = new Map(inPack.filter((x) => x.obj.predicate.kind === 'decision')
        .map((x) => [x.leaf, x.obj]));
    let checked = 0;
    for (const x of inPack) {
        const p = x.obj.predicate;
        if (!MCP_ROUTES.includes(p.route)) continue;
        const text = x.m.data.toString('latin1');
        assert.equal(text, canonicalize(x.obj), `${x.m.name} is not canonical`);
        const idx = x.m.name.slice(9, 29);
        assert.equal(p.log.index, Number(idx));
        const pr = parseTlogProof(byName.get(`proofs/${idx}.tlog-proof`).toString('utf8'));
        assert.ok(rootFromInclusion(Number(idx), fin.size, leafHash(x.m.data), pr.hashes).equals(fin.root),
                  `${x.m.name}: inclusion`);
        assert.equal(p.model, 'everything');
        assert.match(x.obj.subject[0].digest.sha256, /^[0-9a-f]{64}$/);
        if (p.kind === 'decision') {
            assert.ok(['allow', 'deny', 'require_approval'].includes(p.decision));
            assert.match(p.policy_sha256, /^[0-9a-f]{64}$/);
            assert.equal(p.policy_sha256, sha(Buffer.from(POLICY)).toString('hex'));
        } else if (p.kind === 'outcome') {
            assert.ok(['ok', 'tool_error', 'upstream_error', 'upstream_timeout', 'upstream_invalid',
                       'result_too_large', 'internal_error'].includes(p.status), p.status);
            const parent = decisions.get(p.parent_leaf_hash);
            assert.ok(parent, `${x.m.name}: its parent is no decision of the pack`);
            assert.equal(parent.predicate.route, p.route);
            assert.equal(parent.subject[0].digest.sha256, x.obj.subject[0].digest.sha256);
        }
        checked++;
    }
    assert.ok(checked >= 20, `only ${checked} MCP receipts in the pack`);
});

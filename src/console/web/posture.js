// posture.js: security readiness, signoff readiness and platform services in one view; evidence:
// download the org's pack, look up a receipt with its inclusion proof and the exact
// `bulwark verify` command that checks it offline.
import { api, el, clear, errorText, kv, pretty, download, isAdmin, state } from './lib.js';

export async function render(root) {
    root.append(el('h1', {}, 'Posture'));
    const [sec, sign, svc, vkey] = await Promise.all([
        api('GET', '/api/v1/security/readiness'), api('GET', '/api/v1/signoff/readiness'),
        isAdmin() ? api('GET', '/api/v1/platform/services') : Promise.resolve(null),
        api('GET', '/api/v1/ledger/public-key')]);
    const ready = sec.ok ? (sec.json.status || (sec.json.ready ? 'ready' : 'not ready')) : 'unknown';
    root.append(el('section', { class: 'card' }, el('h2', {}, 'Security readiness'),
        el('p', {}, 'Status: ', el('strong', { testid: 'readiness-status' }, String(ready))),
        sec.ok ? controls(sec.json) : el('p', { class: 'error' }, errorText(sec))));
    root.append(el('section', { class: 'card' }, el('h2', {}, 'Signoff readiness'),
        sign.ok ? kv([
            ['Ready', sign.json.ready ? 'yes' : 'no'],
            ['Pending reviews', String(sign.json.pending)],
            ['Oldest pending', `${sign.json.oldest_pending_age_s} s`],
            ['Reviewers available', sign.json.reviewers_available ? 'yes' : 'no'],
            ['Queue within bound', sign.json.queue_within_bound ? 'yes' : 'no'],
        ]) : el('p', { class: 'error' }, errorText(sign))));
    if (svc) {
        root.append(el('section', { class: 'card' }, el('h2', {}, 'Platform services'),
            svc.ok ? el('pre', {}, pretty(svc.json)) : el('p', { class: 'error' }, errorText(svc))));
    }
    const verifier = vkey.ok ? vkey.text.trim() : 'VERIFIER_KEY';
    root.append(evidence(verifier));
}

function controls(j) {
    const list = Array.isArray(j.controls) ? j.controls : [];
    if (!list.length) return el('pre', {}, pretty(j));
    return el('table', {}, el('thead', {}, el('tr', {}, ['Control', 'Verdict', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, list.map((c) => el('tr', {}, el('td', {}, c.id || c.name || ''), el('td', {}, c.verdict || c.status || ''),
            el('td', {}, c.detail || c.why || '')))));
}

function evidence(verifier) {
    const id = el('input', { id: 'receipt-id', placeholder: '0a1b2c3d.42', spellcheck: 'false' });
    const out = el('div', { id: 'receipt-out' });
    const command = (pack) => `bulwark verify --trust '${verifier}' ${pack}`;
    async function lookup() {
        const r = await api('GET', `/api/v1/receipts/${encodeURIComponent(id.value.trim())}`);
        clear(out);
        if (!r.ok) return out.append(el('p', { class: 'error', role: 'alert' }, errorText(r)));
        let pred = {};
        try { pred = JSON.parse(r.json.receipt).predicate || {}; } catch { pred = {}; }
        out.append(kv([
            ['Receipt', el('code', {}, r.json.id)], ['Leaf index', String(r.json.index)],
            ['Leaf hash', el('code', {}, r.json.leaf_hash)], ['Decision', `${pred.decision || '?'} ${pred.reason || ''}`],
        ]), el('h3', {}, 'Receipt (exact bytes)'), el('pre', {}, r.json.receipt),
        el('h3', {}, 'Inclusion proof (against the latest checkpoint)'), el('pre', {}, r.json.proof),
        el('h3', {}, 'Check it offline'),
        el('p', {}, 'Download the evidence pack (it holds this receipt and its proof), then run:'),
        el('pre', {}, command('evidence.tar')));
    }
    async function pack() {
        const res = await fetch('/api/v1/evidence/export', {
            method: 'POST', credentials: 'same-origin',
            headers: { 'x-csrf-token': state.csrf },
        });
        if (!res.ok) return clear(out).append(el('p', { class: 'error' }, `Pack refused: HTTP ${res.status}`));
        download('evidence.tar', await res.blob());
    }
    return el('section', { class: 'card' }, el('h2', {}, 'Evidence'),
        isAdmin() ? el('button', { type: 'button', onclick: pack }, 'Download evidence pack') : null,
        el('div', { class: 'toolbar' }, el('label', { for: 'receipt-id' }, 'Receipt id'), id,
            el('button', { type: 'button', onclick: lookup }, 'Look up')),
        el('p', {}, 'Verify a pack: ', el('code', {}, command('evidence.tar'))), out);
}

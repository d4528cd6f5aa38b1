// transcripts.js: widget conversations by agent and day, searchable. Each message shows its text
// (as TEXT: a message holding <script> shows those characters), the decision of the call it
// belongs to (read from its receipt) and the receipt id. Purge goes through the dry run, the
// confirm token and, where the org requires it, a second person's approval.
import { api, el, clear, errorText, fmtTime, kv, pretty, isAdmin } from './lib.js';

export async function render(root) {
    const agentSel = el('select', { id: 'tr-agent' }, el('option', { value: '' }, 'every agent'));
    const search = el('input', { id: 'tr-search', type: 'search', placeholder: 'text in a message' });
    const out = el('div', { id: 'tr-out' });
    root.append(el('h1', {}, 'Transcripts'),
        el('div', { class: 'toolbar' },
            el('label', { for: 'tr-agent' }, 'Agent'), agentSel,
            el('label', { for: 'tr-search' }, 'Search'), search,
            el('button', { type: 'button', onclick: () => load() }, 'Refresh')),
        out, isAdmin() ? purgeBox() : null);
    const agents = await api('GET', '/api/v1/agents');
    const names = {};
    if (agents.ok) {
        for (const a of agents.json.data || []) {
            names[a.id] = a.name;
            agentSel.append(el('option', { value: a.id }, a.name));
        }
    }
    agentSel.addEventListener('change', () => load());
    search.addEventListener('input', () => draw());
    let rows = [];

    async function load() {
        const q = new URLSearchParams({ limit: '1000' });
        if (agentSel.value) q.set('agent_id', agentSel.value);
        const r = await api('GET', `/api/v1/transcripts?${q}`);
        if (!r.ok) {
            clear(out).append(el('p', { class: 'error', role: 'alert' }, errorText(r)));
            return;
        }
        rows = r.json.data || [];
        draw();
    }

    function draw() {
        clear(out);
        const needle = search.value.trim().toLowerCase();
        const shown = needle ? rows.filter((m) => String(m.content).toLowerCase().includes(needle)) : rows;
        if (!shown.length) {
            out.append(el('p', { class: 'muted' }, 'No messages.'));
            return;
        }
        // agent -> day -> conversation, newest day first
        const groups = new Map();
        for (const m of shown) {
            const day = new Date(m.created_ms).toISOString().slice(0, 10);
            const key = `${names[m.agent_id] || m.agent_id} · ${day}`;
            if (!groups.has(key)) groups.set(key, new Map());
            const convs = groups.get(key);
            if (!convs.has(m.conversation_id)) convs.set(m.conversation_id, []);
            convs.get(m.conversation_id).push(m);
        }
        const keys = [...groups.keys()].sort().reverse();
        for (const k of keys) {
            const sec = el('section', { class: 'card' }, el('h2', {}, k));
            for (const [conv, msgs] of groups.get(k)) {
                sec.append(el('h3', {}, `Conversation ${conv}`));
                for (const m of msgs) sec.append(message(m));
            }
            out.append(sec);
        }
    }

    await load();
}

function message(m) {
    const decision = el('span', { class: 'muted' }, 'decision: …');
    const row = el('div', { class: `msg ${m.role === 'user' ? 'user' : 'assistant'}`, testid: 'transcript-row' },
        el('div', { class: 'muted' }, `${fmtTime(m.created_ms)} · ${m.role} · receipt `,
            el('code', {}, m.receipt_id), ' · ', decision),
        el('p', {}, m.content));
    decisionOf(m.receipt_id).then((d) => { decision.textContent = `decision: ${d}`; });
    return row;
}

const decisions = new Map();
async function decisionOf(id) {
    if (!id) return 'unknown';
    if (!decisions.has(id)) {
        decisions.set(id, api('GET', `/api/v1/receipts/${encodeURIComponent(id)}`).then((r) => {
            if (!r.ok) return `unknown (${errorText(r)})`;
            try {
                const p = JSON.parse(r.json.receipt).predicate || {};
                return `${p.decision}${p.reason ? ` (${p.reason})` : ''}`;
            } catch { return 'unreadable receipt'; }
        }));
    }
    return decisions.get(id);
}

function purgeBox() {
    const before = el('input', { id: 'purge-before', type: 'date' });
    const out = el('div', { role: 'status' });
    let token = null;
    async function dry() {
        const body = { dry_run: true };
        if (before.value) body.before_ms = Date.parse(`${before.value}T00:00:00Z`);
        const r = await api('POST', '/api/v1/transcripts/purge', body);
        clear(out);
        if (!r.ok) { out.append(el('p', { class: 'error' }, errorText(r))); return; }
        token = r.json.confirm_token;
        out.append(el('p', {}, 'Dry run: nothing was deleted. The plan:'), el('pre', {}, pretty(r.json.plan)),
            r.json.review_id ? el('p', {}, `A second admin must approve review ${r.json.review_id} before the purge can be confirmed.`) : null,
            el('button', { type: 'button', class: 'danger', onclick: go }, 'Confirm purge'));
    }
    async function go() {
        const r = await api('POST', '/api/v1/transcripts/purge', { confirm_token: token });
        clear(out).append(r.ok ? el('p', { class: 'okay' }, `Purged: ${pretty(r.json)}`)
            : el('p', { class: 'error' }, errorText(r)));
    }
    return el('section', { class: 'card' }, el('h2', {}, 'Purge transcripts'),
        kv([['How', 'a dry run shows what would be deleted; confirming deletes exactly that plan']]),
        el('label', { for: 'purge-before' }, 'Messages before (UTC day, optional)'), before,
        el('button', { type: 'button', onclick: dry }, 'Dry run'), out);
}

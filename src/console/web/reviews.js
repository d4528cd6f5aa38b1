// reviews.js: the review queue. Pending items newest first; one item's detail shows exactly what
// would run (model, tools with their arguments), why it was held (rule, reviewer role), its
// quorum and voters, and its whole history with receipt ids; approve or deny with a comment.
// The server decides who may vote (role, four eyes, quorum): the page only shows its answer.
import { api, el, clear, errorText, fmtTime, fmtAge, pretty, kv, state, isReviewer } from './lib.js';

let selected = null;

export async function render(root) {
    const filter = el('select', { id: 'review-status' },
        ['pending', 'all', 'approved', 'denied', 'expired', 'used'].map((s) => el('option', { value: s }, s)));
    const list = el('div', { id: 'review-list' });
    const detail = el('div', { id: 'review-detail-box' });
    // The answer to the last vote stays while the detail is redrawn with the new state.
    const result = el('p', { role: 'status', class: 'muted', id: 'review-result' });
    root.append(
        el('h1', {}, 'Review queue'),
        el('div', { class: 'toolbar' },
            el('label', { for: 'review-status' }, 'Status'), filter,
            el('button', { type: 'button', onclick: () => load() }, 'Refresh')),
        el('div', { class: 'split' }, el('div', { class: 'card' }, list), el('div', {}, result, detail)));
    filter.addEventListener('change', () => load());
    if (!isReviewer()) {
        list.append(el('p', { class: 'muted' }, 'Your role cannot see the review queue.'));
        return;
    }

    async function load() {
        const st = filter.value;
        const r = await api('GET', st === 'all' ? '/api/v1/reviews' : `/api/v1/reviews?status=${st}`);
        clear(list);
        if (!r.ok) {
            list.append(el('p', { class: 'error', role: 'alert' }, errorText(r)));
            return;
        }
        const items = r.json.reviews || [];
        if (!items.length) {
            list.append(el('p', { class: 'muted' }, 'Nothing here.'));
            return;
        }
        const now = Date.now();
        list.append(el('table', {},
            el('caption', { class: 'visually-hidden' }, 'Review items, newest first'),
            el('thead', {}, el('tr', {}, ['Item', 'Agent', 'Rule', 'Quorum', 'Status', 'Age'].map((h) => el('th', { scope: 'col' }, h)))),
            el('tbody', {}, items.map((it) => {
                const open = () => show(it.id);
                return el('tr', {
                    class: 'clickable', testid: 'review-row', 'data-review-id': it.id,
                    tabindex: '0', onclick: open,
                    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } },
                },
                el('td', {}, el('code', {}, it.id)), el('td', {}, it.agent || '—'), el('td', {}, it.rule),
                el('td', {}, `${it.approvals}/${it.quorum}`),
                el('td', { class: `status-${it.status}` }, it.status), el('td', {}, fmtAge(it.created_ms, now)));
            }))));
        if (selected && items.some((x) => x.id === selected)) await show(selected, true);
    }

    async function show(id, keepResult) {
        if (!keepResult) {
            result.className = 'muted';
            result.textContent = '';
        }
        selected = id;
        const r = await api('GET', `/api/v1/reviews/${encodeURIComponent(id)}`);
        clear(detail);
        if (!r.ok) {
            detail.append(el('p', { class: 'error', role: 'alert' }, errorText(r)));
            return;
        }
        detail.append(itemView(r.json, result, () => { load(); }));
    }

    await load();
}

function itemView(it, msg, reload) {
    const now = Date.now();
    const d = it.detail || {};
    const comment = el('textarea', { id: 'review-comment', testid: 'review-comment', rows: '3', maxlength: '1000' });
    const pending = it.status === 'pending';
    async function vote(verdict) {
        const text = comment.value.trim();
        if (!text) {
            msg.className = 'error';
            msg.textContent = 'A comment is required.';
            return;
        }
        const r = await api('POST', `/api/v1/reviews/${encodeURIComponent(it.id)}/${verdict}`, { comment: text });
        if (!r.ok) {
            msg.className = 'error';
            msg.textContent = `Vote refused: ${errorText(r)}`;
            return;
        }
        msg.className = 'okay';
        msg.textContent = `Recorded (${verdict}); receipt ${r.json.receipt_id}. Status: ${r.json.status}.`;
        reload();
    }
    const bar = el('div', { class: 'bar', role: 'img', 'aria-label': `${it.approvals} of ${it.quorum} approvals` },
        el('span', { style: undefined }));
    bar.firstChild.style.width = `${Math.min(100, (100 * it.approvals) / Math.max(1, it.quorum))}%`;
    const tools = Array.isArray(d.tools) ? d.tools : [];
    const calls = Array.isArray(d.tool_calls) ? d.tool_calls : [];
    return el('section', { class: 'card', testid: 'review-detail', 'aria-labelledby': 'review-title' },
        el('h2', { id: 'review-title' }, `Review ${it.id}`),
        kv([
            ['Status', el('span', { class: `status-${it.status}` }, it.status)],
            ['Org', state.session ? `${state.session.org_name} (${state.session.org_id})` : ''],
            ['Agent', it.agent || '—'],
            ['Route', it.route],
            ['Model', d.model || it.model || '—'],
            ['Rule', it.rule],
            ['Why held', `the rule requires approval by ${it.quorum} ${it.reviewer_role}${it.quorum > 1 ? 's' : ''} (APPROVAL_REQUIRED)`],
            ['Requester key', it.requester_key_id],
            ['Request SHA-256', el('code', {}, it.request_sha256)],
            ['Created', `${fmtTime(it.created_ms)} (${fmtAge(it.created_ms, now)})`],
            ['Expires', `${fmtTime(it.expires_ms)} (${fmtAge(it.expires_ms, now)})`],
            ['Quorum', el('div', {}, `${it.approvals} of ${it.quorum} approvals`, bar)],
        ]),
        el('h3', {}, 'What would run'),
        !it.detail ? el('p', { class: 'muted' }, 'No detail was stored for this item (made before the console existed).') : null,
        calls.length ? el('div', {}, el('h4', {}, 'Tool calls in the request'),
            calls.map((c) => el('div', {}, el('strong', {}, c.name || '(unnamed)'), el('pre', {}, pretty(c.arguments))))) : null,
        tools.length ? el('div', {}, el('h4', {}, 'Tools the request declares'),
            tools.map((t) => el('div', {}, el('strong', {}, t.name || '(unnamed)'),
                t.description ? el('p', { class: 'muted' }, t.description) : null,
                el('pre', {}, pretty(t.parameters ?? {}))))) : null,
        d.arguments !== undefined ? el('div', {}, el('h4', {}, `MCP tool ${d.tool || ''}`), el('pre', {}, pretty(d.arguments))) : null,
        el('h3', {}, 'Votes'),
        (it.votes || []).length ? el('ul', {}, it.votes.map((v) => el('li', {},
            `${v.vote} by ${v.member_id || v.key_id} (key ${v.key_id}) at ${fmtTime(v.created_ms)}: `,
            el('q', {}, v.comment), ` — receipt ${v.receipt_id}`))) : el('p', { class: 'muted' }, 'No votes yet.'),
        el('h3', {}, 'History'),
        el('ol', { testid: 'review-history' }, (it.history || []).map((h) => el('li', {},
            `${fmtTime(h.at_ms)} · ${h.event}${h.by ? ` by ${h.by}` : ''}`,
            h.receipt_id ? [' · receipt ', el('code', {}, h.receipt_id)] : ''))),
        pending ? el('div', {},
            el('label', { for: 'review-comment' }, 'Comment (required)'), comment,
            el('div', { class: 'toolbar' },
                el('button', { type: 'button', class: 'primary', testid: 'review-approve', onclick: () => vote('approve') }, 'Approve'),
                el('button', { type: 'button', class: 'danger', testid: 'review-deny', onclick: () => vote('deny') }, 'Deny'))) : null);
}

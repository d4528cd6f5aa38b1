// access.js: members, keys (create, rotate, revoke; expiry, last used), agents and their widget
// keys. A new key is shown once, right after it is made, and never again. Destructive actions go
// through the API's own dry run and confirm (agent delete) or an explicit confirmation (revoke).
// The API decides what the role may do; the page shows its refusals.
import { api, el, clear, errorText, fmtTime, pretty, isAdmin } from './lib.js';

export async function render(root) {
    root.append(el('h1', {}, 'Access'));
    if (!isAdmin()) {
        root.append(el('p', { class: 'muted' }, 'Members, keys and agents are managed by owners and admins.'));
        return;
    }
    const msg = el('div', { role: 'status', id: 'access-msg' });
    const members = el('section', { class: 'card' });
    const keys = el('section', { class: 'card' });
    const agents = el('section', { class: 'card' });
    root.append(msg, members, keys, agents);
    const say = (text, bad) => clear(msg).append(el('p', { class: bad ? 'error' : 'okay' }, text));

    async function drawMembers() {
        const r = await api('GET', '/api/v1/members');
        clear(members).append(el('h2', {}, 'Members'));
        if (!r.ok) return members.append(el('p', { class: 'error' }, errorText(r)));
        members.append(table(['Email', 'Role', 'Id', 'Since', ''], (r.json.data || []).map((m) =>
            [m.email, m.role, el('code', {}, m.id), fmtTime(m.created_ms),
                el('button', { type: 'button', class: 'danger', onclick: () => removeMember(m) }, 'Remove')])));
        const email = el('input', { id: 'member-email', type: 'email', maxlength: '254' });
        const role = el('select', { id: 'member-role' }, ['reviewer', 'member', 'admin', 'owner'].map((x) => el('option', { value: x }, x)));
        members.append(el('h3', {}, 'Add a member'), el('div', { class: 'toolbar' },
            el('label', { for: 'member-email' }, 'Email'), email, el('label', { for: 'member-role' }, 'Role'), role,
            el('button', { type: 'button', class: 'primary', onclick: () => addMember(email.value, role.value) }, 'Add')));
    }
    async function addMember(email, role) {
        const r = await api('POST', '/api/v1/members', { email, role });
        say(r.ok ? `Member ${email} added (the operator issues their first key).` : `Not added: ${errorText(r)}`, !r.ok);
        drawMembers();
    }
    async function removeMember(m) {
        if (!window.confirm(`Remove ${m.email}? Every key of theirs is revoked at once.`)) return;
        const r = await api('DELETE', `/api/v1/members/${encodeURIComponent(m.id)}`);
        say(r.ok ? `Member ${m.email} removed; keys revoked: ${r.json.keys_revoked}.` : `Not removed: ${errorText(r)}`, !r.ok);
        drawMembers();
        drawKeys();
    }

    async function drawKeys() {
        const r = await api('GET', '/api/v1/keys');
        clear(keys).append(el('h2', {}, 'Keys'));
        if (!r.ok) return keys.append(el('p', { class: 'error' }, errorText(r)));
        keys.append(table(['Name', 'Role', 'Agent', 'Status', 'Expires', 'Last used', ''], (r.json.data || []).map((k) => [
            k.name || el('code', {}, k.id), k.role, k.agent || '—', k.status,
            k.expires_ms ? fmtTime(k.expires_ms) : 'never', k.last_used_ms ? fmtTime(k.last_used_ms) : 'never',
            k.status === 'active' ? el('span', {},
                el('button', { type: 'button', onclick: () => rotate(k) }, 'Rotate'), ' ',
                el('button', { type: 'button', class: 'danger', onclick: () => revoke(k) }, 'Revoke')) : '',
        ])));
        const role = el('select', { id: 'key-role' }, ['agent', 'reviewer', 'member', 'admin'].map((x) => el('option', { value: x }, x)));
        const name = el('input', { id: 'key-name', maxlength: '63' });
        const days = el('input', { id: 'key-days', type: 'number', min: '1', max: '3650', value: '90' });
        keys.append(el('h3', {}, 'New key (for you)'), el('div', { class: 'toolbar' },
            el('label', { for: 'key-role' }, 'Role'), role, el('label', { for: 'key-name' }, 'Name'), name,
            el('label', { for: 'key-days' }, 'Expires in days'), days,
            el('button', { type: 'button', class: 'primary', onclick: () => create(role.value, name.value, days.value) }, 'Create')));
    }

    function showOnce(title, key) {
        const field = el('input', { readonly: true, value: key, id: 'new-key', 'aria-label': 'the new key' });
        clear(msg).append(el('div', { class: 'card' }, el('p', { class: 'okay' }, title),
            el('p', {}, 'Copy it now: it is not stored and will not be shown again.'), field,
            el('button', { type: 'button', onclick: () => clear(msg) }, 'I have copied it')));
    }

    async function create(role, name, days) {
        const body = { role };
        if (name) body.name = name;
        if (days) body.expires_in_s = Number(days) * 86400;
        const r = await api('POST', '/api/v1/keys', body);
        if (!r.ok) return say(`Not created: ${errorText(r)}`, true);
        showOnce(`Key ${r.json.id} created (receipt ${r.json.receipt_id || '—'}).`, r.json.key);
        drawKeys();
    }
    async function rotate(k) {
        const r = await api('POST', `/api/v1/keys/${encodeURIComponent(k.id)}/rotate`, { grace_s: 3600 });
        if (!r.ok) return say(`Not rotated: ${errorText(r)}`, true);
        showOnce(`Key ${k.id} rotated to ${r.json.id}; the old one works for one more hour.`, r.json.key);
        drawKeys();
    }
    async function revoke(k) {
        if (!window.confirm(`Revoke key ${k.name || k.id}? Calls with it fail at once.`)) return;
        const r = await api('POST', `/api/v1/keys/${encodeURIComponent(k.id)}/revoke`, {});
        say(r.ok ? `Key ${k.id} revoked.` : `Not revoked: ${errorText(r)}`, !r.ok);
        drawKeys();
    }

    async function drawAgents() {
        const r = await api('GET', '/api/v1/agents');
        clear(agents).append(el('h2', {}, 'Agents and widget keys'));
        if (!r.ok) return agents.append(el('p', { class: 'error' }, errorText(r)));
        agents.append(table(['Name', 'Model', 'Widget', 'Widget key (public)', 'Origins', ''], (r.json.data || []).map((a) => [
            a.name, a.model || '—', a.widget.enabled ? 'on' : 'off', a.widget.public_key ? el('code', {}, a.widget.public_key) : '—',
            (a.widget.origins || []).join(' ') || '—',
            el('span', {},
                el('button', { type: 'button', onclick: () => widget(a, { enabled: !a.widget.enabled }) }, a.widget.enabled ? 'Disable widget' : 'Enable widget'), ' ',
                a.widget.enabled ? el('button', { type: 'button', onclick: () => widget(a, { enabled: true, rotate_key: true }) }, 'New widget key') : null, ' ',
                el('button', { type: 'button', class: 'danger', onclick: () => del(a) }, 'Delete…')),
        ])));
    }
    async function widget(a, body) {
        const r = await api('POST', `/api/v1/agents/${encodeURIComponent(a.id)}/widget`, body);
        say(r.ok ? `Widget of ${a.name}: ${r.json.widget.enabled ? 'on' : 'off'}.` : `Not changed: ${errorText(r)}`, !r.ok);
        drawAgents();
    }
    async function del(a) {
        const dry = await api('POST', `/api/v1/agents/${encodeURIComponent(a.id)}/delete`, { dry_run: true });
        if (!dry.ok) return say(`Dry run refused: ${errorText(dry)}`, true);
        clear(msg).append(el('div', { class: 'card' }, el('p', {}, `Dry run of deleting agent ${a.name}: nothing changed yet. The plan:`),
            el('pre', {}, pretty(dry.json.plan)),
            el('button', { type: 'button', class: 'danger', onclick: async () => {
                const r = await api('POST', `/api/v1/agents/${encodeURIComponent(a.id)}/delete`, { confirm_token: dry.json.confirm_token });
                say(r.ok ? `Agent ${a.name} deleted.` : `Not deleted: ${errorText(r)}`, !r.ok);
                drawAgents();
            } }, 'Confirm delete'),
            el('button', { type: 'button', onclick: () => clear(msg) }, 'Cancel')));
    }

    await drawMembers();
    await drawKeys();
    await drawAgents();
}

function table(head, rows) {
    return el('table', {}, el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

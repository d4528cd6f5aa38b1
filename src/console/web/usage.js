// usage.js: spend per day per model and per agent (tokens and cost) as SVG bar charts, budget
// consumption against the month's limit, CSV download. Data: GET /api/v1/usage (owner, admin)
// and GET /api/v1/budget.
import { api, el, svg, clear, errorText, kv, download, isAdmin } from './lib.js';

const usd = (micros) => `$${(Number(micros || 0) / 1e6).toFixed(4)}`;

export async function render(root) {
    root.append(el('h1', {}, 'Usage and budgets'));
    const budget = await api('GET', '/api/v1/budget');
    root.append(budgetCard(budget));
    if (!isAdmin()) {
        root.append(el('p', { class: 'muted' }, 'Usage per day, model and agent is for owners and admins.'));
        return;
    }
    const month = new Date().toISOString().slice(0, 7);
    const from = `${month}-01`;
    const box = el('div', {});
    root.append(el('div', { class: 'toolbar' },
        el('button', { type: 'button', onclick: csv }, 'Download CSV (by day)')), box);
    for (const [group, title] of [['day', 'Per day'], ['model', 'Per model'], ['agent', 'Per agent']]) {
        const r = await api('GET', `/api/v1/usage?group_by=${group}&from=${from}`);
        box.append(chartCard(title, group, r));
    }
    async function csv() {
        const res = await fetch(`/api/v1/usage?group_by=day&from=${from}&format=csv`, { credentials: 'same-origin' });
        download(`usage-${month}.csv`, await res.blob());
    }
}

function budgetCard(r) {
    if (!r.ok) return el('p', { class: 'error', role: 'alert' }, errorText(r));
    const b = r.json;
    const pct = (used, limit) => (limit > 0 ? Math.min(100, (100 * used) / limit) : 0);
    const bar = (used, limit, label) => {
        const d = el('div', { class: 'bar', role: 'img', 'aria-label': label }, el('span', {}));
        d.firstChild.style.width = `${pct(used, limit)}%`;
        return d;
    };
    const tok = b.monthly_tokens < 0 ? 'unlimited' : String(b.monthly_tokens);
    const cost = b.monthly_cost_micros < 0 ? 'unlimited' : usd(b.monthly_cost_micros);
    return el('section', { class: 'card' }, el('h2', {}, `Budget ${b.month} (${b.plan || b.source})`),
        kv([
            ['Tokens', el('div', {}, `${b.spent_tokens} of ${tok}`, bar(b.spent_tokens, b.monthly_tokens, 'tokens used'))],
            ['Cost', el('div', {}, `${usd(b.spent_cost_micros)} of ${cost}`, bar(b.spent_cost_micros, b.monthly_cost_micros, 'cost used'))],
        ]));
}

function chartCard(title, group, r) {
    const card = el('section', { class: 'card' }, el('h2', {}, title));
    if (!r.ok) return append1(card, el('p', { class: 'error' }, errorText(r)));
    const rows = r.json.rows || [];
    if (!rows.length) return append1(card, el('p', { class: 'muted' }, 'No calls metered this month.'));
    card.append(el('div', { class: 'charts' },
        el('figure', {}, el('figcaption', {}, 'Tokens'),
            barChart(rows, 'total_tokens', `${title}: tokens`, group === 'day' ? 'usage-chart' : undefined, String)),
        el('figure', {}, el('figcaption', {}, 'Cost'),
            barChart(rows, 'cost_micros', `${title}: cost in dollars`, undefined, usd))));
    const table = el('table', {}, el('thead', {}, el('tr', {}, ['Group', 'Calls', 'Tokens', 'Cost'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows.map((x) => el('tr', {}, el('td', {}, x.group || '—'), el('td', {}, x.calls),
            el('td', {}, x.total_tokens), el('td', {}, usd(x.cost_micros))))));
    card.append(table);
    return card;
}

function append1(n, c) { n.append(c); return n; }

// A horizontal bar chart in plain SVG: one bar per row, labels as SVG text (text nodes).
function barChart(rows, field, label, testid, fmt) {
    const w = 520, rowH = 22, left = 110, h = rows.length * rowH + 10;
    const max = Math.max(1, ...rows.map((x) => Number(x[field]) || 0));
    const s = svg('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img', 'aria-label': label, ...(testid ? { testid } : {}) },
        svg('title', { text: label }));
    rows.forEach((x, i) => {
        const v = Number(x[field]) || 0;
        const y = 5 + i * rowH;
        s.append(svg('text', { x: 0, y: y + 14, text: String(x.group || '—').slice(0, 22) }),
            svg('rect', { class: field === 'cost_micros' ? 'chart-bar alt' : 'chart-bar', x: left, y, height: rowH - 6,
                width: Math.max(1, ((w - left - 90) * v) / max) }),
            svg('text', { x: w - 85, y: y + 14, text: fmt(v) }));
    });
    return s;
}

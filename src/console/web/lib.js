// lib.js: what every console page shares. Everything the API returns is put on the page as
// TEXT (textContent, text nodes, attribute values): never innerHTML, so a transcript holding
// <script> or <img onerror> shows as those characters and runs nothing.

export const state = { session: null, csrf: '' };

// One API call with the session cookie (same origin). State-changing calls carry the CSRF
// token (docs/CONSOLE.md "Security"). Answers {status, ok, json, text, headers}.
export async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && method !== 'HEAD' && state.csrf) headers['x-csrf-token'] = state.csrf;
    let res;
    try {
        res = await fetch(path, {
            method, headers, credentials: 'same-origin', cache: 'no-store',
            body: body === undefined ? undefined : JSON.stringify(body),
        });
    } catch (e) {
        return { status: 0, ok: false, json: null, text: String(e), headers: new Headers() };
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (res.status === 401 && path !== '/console/api/session') {
        window.dispatchEvent(new CustomEvent('bw-signed-out'));
    }
    return { status: res.status, ok: res.ok, json, text, headers: res.headers };
}

// The error an answer carries, as one line of text.
export function errorText(r) {
    const e = r.json && r.json.error;
    if (e) return `${e.code || r.status}: ${e.message || ''}`;
    return r.status ? `HTTP ${r.status}` : `network error: ${r.text}`;
}

// el('tr', {testid: 'review-row', class: 'x', onclick: f}, 'text', child, ...): a DOM element.
// Strings become text nodes. Attributes are set with setAttribute (values are text).
export function el(tag, attrs = {}, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'testid') n.setAttribute('data-testid', v);
        else if (k === 'text') n.textContent = String(v);
        else if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? '' : String(v));
    }
    append(n, children);
    return n;
}

export function append(n, children) {
    for (const c of children.flat(Infinity)) {
        if (c === undefined || c === null || c === false) continue;
        n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
}

export function clear(n) {
    while (n.firstChild) n.removeChild(n.firstChild);
    return n;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (k === 'testid') n.setAttribute('data-testid', v);
        else if (k === 'text') n.textContent = String(v);
        else n.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
        if (c === undefined || c === null) continue;
        n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
}

export const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

export function fmtAge(ms, now = Date.now()) {
    let s = Math.round((now - ms) / 1000);
    const future = s < 0;
    s = Math.abs(s);
    const t = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400
        ? `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m` : `${Math.floor(s / 86400)}d`;
    return future ? `in ${t}` : `${t} ago`;
}

export const pretty = (v) => JSON.stringify(v, null, 2);

// A definition list from [[term, value-or-node], ...].
export function kv(pairs) {
    return el('dl', { class: 'kv' }, pairs.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

// Saves text as a file (CSV, a pack) without navigating away.
export function download(name, blob) {
    const a = el('a', { href: URL.createObjectURL(blob), download: name }, name);
    a.click(); // never put in the page
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

export const isAdmin = () => state.session && ['owner', 'admin'].includes(state.session.role);
export const isReviewer = () => state.session &&
    ['owner', 'admin', 'reviewer'].includes(state.session.role);

// app.js: sign-in, navigation (hash routes: #/reviews, ...) and the page modules.
import { api, state, el, clear, errorText } from './lib.js';
import * as reviews from './reviews.js';
import * as transcripts from './transcripts.js';
import * as usage from './usage.js';
import * as access from './access.js';
import * as posture from './posture.js';

const pages = { reviews, transcripts, usage, access, posture };
const $ = (id) => document.getElementById(id);

function showLogin(message) {
    state.session = null;
    state.csrf = '';
    $('nav').hidden = true;
    $('logout').hidden = true;
    $('page').hidden = true;
    clear($('page'));
    $('who').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
}

function signedIn(s) {
    state.session = s;
    state.csrf = s.csrf_token;
    $('login').hidden = true;
    $('nav').hidden = false;
    $('logout').hidden = false;
    $('page').hidden = false;
    $('who').textContent = `${s.email || s.name || s.member_id} · ${s.role} · ${s.org_name}`;
    route();
}

async function route() {
    if (!state.session) return;
    const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'reviews';
    const page = pages[name] || reviews;
    for (const a of document.querySelectorAll('#nav a')) {
        if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    const root = clear($('page'));
    try {
        await page.render(root);
    } catch (e) {
        root.append(el('p', { class: 'error', role: 'alert' }, `This page failed: ${e.message}`));
    }
}

async function login(ev) {
    ev.preventDefault();
    const input = $('login-key');
    const key = input.value.trim();
    input.value = ''; // the key is not kept in the page
    const r = await api('POST', '/console/api/login', { key });
    if (!r.ok) {
        $('login-error').textContent = `Sign-in refused: ${errorText(r)}`;
        return;
    }
    signedIn(r.json);
}

function sso(ev) {
    ev.preventDefault();
    const org = $('sso-org').value.trim();
    if (!org) {
        $('login-error').textContent = 'Name your organization to sign in with SSO.';
        return;
    }
    location.assign(`/console/sso/start?org=${encodeURIComponent(org)}`);
}

async function logout() {
    await api('POST', '/console/api/logout', {});
    showLogin('Signed out.');
}

async function start() {
    $('login-form').addEventListener('submit', login);
    $('sso-form').addEventListener('submit', sso);
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', route);
    window.addEventListener('bw-signed-out', () => showLogin('Your session ended: sign in again.'));
    const r = await api('GET', '/console/api/session');
    if (r.ok && r.json && r.json.signed_in) signedIn(r.json);
    else showLogin(new URLSearchParams(location.search).get('error') || '');
}

start();

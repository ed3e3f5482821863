// main.js - the dashboard's shell: header, navigation, settings, and the page router.
import { h, replace } from './dom.js';
import { explorePage } from './explore.js';
import { labelsPage } from './labels.js';
import { applyTheme, effectiveTheme, settings } from './settings.js';
import { readHash } from './state.js';
import { statusPage } from './status.js';
import { clearSuggestCache } from './suggest.js';
// Last, so that its rules follow uPlot's.
import './style.css';

const PAGES = {
    explore: { title: 'Explore', make: explorePage },
    labels: { title: 'Labels', make: labelsPage },
    status: { title: 'Status', make: statusPage },
};

function settingsDialog() {
    const token = h('input.input', { type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Token', placeholder: 'JWT or API token' });
    const showToken = h('input', { type: 'checkbox', 'aria-label': 'Show token' });
    const tenant = h('input.input', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Tenant', placeholder: 'default tenant' });
    const theme = h(
        'select.input',
        { 'aria-label': 'Theme' },
        h('option', { value: 'auto' }, 'Follow the system'),
        h('option', { value: 'light' }, 'Light'),
        h('option', { value: 'dark' }, 'Dark'),
    );
    showToken.addEventListener('change', () => (token.type = showToken.checked ? 'text' : 'password'));
    const dlg = h(
        'dialog.settings',
        { 'aria-label': 'Settings' },
        h(
            'form',
            { method: 'dialog' },
            h('h2', 'Settings'),
            h(
                'label.field',
                h('span', 'Token'),
                token,
                h('small', 'Sent as Authorization: Bearer with every request; kept in this browser only.'),
            ),
            h('label.check', showToken, 'Show token'),
            h(
                'label.field',
                h('span', 'Tenant (X-Scope-OrgID)'),
                tenant,
                h('small', 'Leave empty for the server’s default tenant; a|b queries several.'),
            ),
            h('label.field', h('span', 'Theme'), theme),
            h(
                'div.dialog-actions',
                h('button.btn', { value: 'cancel', type: 'submit' }, 'Cancel'),
                h('button.btn.btn-primary.save-settings', { value: 'save', type: 'submit' }, 'Save'),
            ),
        ),
    );
    dlg.addEventListener('close', () => {
        if (dlg.returnValue !== 'save') return;
        const changed = settings.token !== token.value.trim() || settings.tenant !== tenant.value.trim();
        settings.token = token.value;
        settings.tenant = tenant.value;
        settings.theme = theme.value;
        if (changed) {
            clearSuggestCache();
            render(true);
        }
    });
    return {
        el: dlg,
        open() {
            token.value = settings.token;
            tenant.value = settings.tenant;
            theme.value = settings.theme;
            showToken.checked = false;
            token.type = 'password';
            dlg.showModal();
        },
    };
}

const nav = {};
const main = h('main.page', { id: 'main' });
let current = null;
let currentName = null;

function render(force = false) {
    const { page, params } = readHash();
    // The Explore link returns to the last query rather than an empty page.
    if (page === 'explore' && nav.explore) nav.explore.setAttribute('href', location.hash || '#/explore');
    for (const [k, a] of Object.entries(nav)) {
        if (k === page) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    if (current && currentName === page && !force) {
        current.update(params);
        return;
    }
    if (current) current.destroy();
    currentName = page;
    current = PAGES[page].make(main, params);
    current.update(params);
}

function themeIcon() {
    return effectiveTheme() === 'dark' ? '☀' : '☾';
}

function start() {
    applyTheme();
    const sd = settingsDialog();
    const themeBtn = h('button.icon-btn.theme-btn', { type: 'button', title: 'Switch light/dark theme', 'aria-label': 'Switch theme' }, themeIcon());
    themeBtn.addEventListener('click', () => {
        settings.theme = effectiveTheme() === 'dark' ? 'light' : 'dark';
        themeBtn.textContent = themeIcon();
    });
    const settingsBtn = h('button.icon-btn.settings-btn', { type: 'button', title: 'Settings: token, tenant, theme', 'aria-label': 'Settings' }, '⚙');
    settingsBtn.addEventListener('click', () => sd.open());
    for (const [k, p] of Object.entries(PAGES)) nav[k] = h('a.nav-link', { href: '#/' + k, dataset: { page: k } }, p.title);
    const header = h(
        'header.topbar',
        h(
            'a.brand',
            { href: '#/explore', 'aria-label': 'Strata home' },
            h('span.brand-mark', { 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
            'Strata',
        ),
        h('nav.nav', { 'aria-label': 'Pages' }, Object.values(nav)),
        h('div.spacer'),
        h('span.tenant-badge', { title: 'Tenant (X-Scope-OrgID)' }),
        themeBtn,
        settingsBtn,
    );
    const tenantBadge = header.querySelector('.tenant-badge');
    const showTenant = () => {
        tenantBadge.textContent = settings.tenant ? 'tenant: ' + settings.tenant : '';
        tenantBadge.hidden = !settings.tenant;
    };
    showTenant();
    sd.el.addEventListener('close', () => {
        showTenant();
        themeBtn.textContent = themeIcon();
    });
    replace(document.getElementById('app'), header, main, sd.el);
    window.addEventListener('strata:urlchange', () => {
        if (readHash().page === 'explore') nav.explore.setAttribute('href', location.hash);
    });
    window.addEventListener('hashchange', () => render());
    window.addEventListener('popstate', () => render());
    render();
    if (readHash().page === 'explore' && current.focus) current.focus();
}

start();

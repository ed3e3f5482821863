// status.js - the Status page: build, readiness, tiers, WAL and the effective configuration.
//
// Reads GET /api/v1/status (src/server/api_dashboard.c). Keys the page does
// not know (a later, richer status call) are still shown as key/value rows.
import { ApiError, api } from './api.js';
import { h, notice, replace, spinner } from './dom.js';
import { formatBytes, formatCount, formatDuration, formatTime } from './time.js';

// Column names of the tiers table that read better than their keys.
const TIER_COLUMNS = { diskBytes: 'on disk' };

/** A key as words: memoryBytes -> "memory bytes", ageSeconds -> "age" (shown as a duration). */
function label(k) {
    return k.replace(/([a-z])([A-Z])/g, (_, a, b) => a + ' ' + b.toLowerCase()).replace(/ seconds$/, '');
}

function value(k, v) {
    if (typeof v === 'number' && /seconds$/i.test(k)) return formatDuration(Math.round(v) * 1000);
    if (typeof v === 'number') return /bytes|size/i.test(k) ? `${formatBytes(v)} (${formatCount(v)})` : formatCount(v);
    if (typeof v === 'string' && /^last/.test(k) && !Number.isNaN(Date.parse(v))) return formatTime(Date.parse(v), false);
    if (v === null && /^last/.test(k)) return 'never';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (v === null || v === undefined) return '—';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
}

function kv(obj, skip = []) {
    return h(
        'table.kv',
        h(
            'tbody',
            Object.entries(obj || {})
                .filter(([k]) => !skip.includes(k))
                .map(([k, v]) => h('tr', h('th', label(k)), h('td', value(k, v)))),
        ),
    );
}

function tiersTable(tiers) {
    const cols = [];
    for (const t of tiers) for (const k of Object.keys(t)) if (k !== 'name' && !cols.includes(k)) cols.push(k);
    return h(
        'div.table-scroll',
        h(
            'table.table.tiers-table',
            h('thead', h('tr', h('th', 'tier'), cols.map((c) => h('th.num', TIER_COLUMNS[c] || c)))),
            h(
                'tbody',
                tiers.map((t) =>
                    h(
                        'tr',
                        h('td', h('strong', t.name)),
                        cols.map((c) => h(typeof t[c] === 'number' ? 'td.num' : 'td', value(c, t[c]))),
                    ),
                ),
            ),
        ),
    );
}

function configTable(options) {
    const filter = h('input.input', { type: 'search', placeholder: 'Filter options', 'aria-label': 'Filter options' });
    const changedOnly = h('input', { type: 'checkbox' });
    const body = h('tbody');
    const render = () => {
        const f = filter.value.toLowerCase();
        const rows = [];
        let room = null;
        for (const o of options) {
            if (changedOnly.checked && o.source === 'default') continue;
            if (f && !(o.name + ' ' + o.value).toLowerCase().includes(f)) continue;
            if (o.room !== room) {
                room = o.room;
                rows.push(h('tr.room-row', h('th', { colspan: '4' }, room)));
            }
            rows.push(
                h(
                    'tr',
                    { dataset: { option: o.name } },
                    h('td.mono', '--' + o.name),
                    h('td.mono.cfg-value', { class: o.secret ? 'secret' : '' }, o.value === '' ? h('span.muted', '(empty)') : o.value),
                    h('td.mono.muted.cfg-default', o.default === '' ? '' : o.default),
                    h('td', h(`span.src.src-${o.source}`, o.source)),
                ),
            );
        }
        replace(body, rows.length ? rows : h('tr', h('td.empty', { colspan: '4' }, 'No option matches.')));
    };
    filter.addEventListener('input', render);
    changedOnly.addEventListener('change', render);
    render();
    return h(
        'div',
        h('div.config-tools', filter, h('label.check', changedOnly, 'Changed from default only')),
        h(
            'div.table-scroll',
            h('table.table.config-table', h('thead', h('tr', h('th', 'option'), h('th', 'value'), h('th', 'default'), h('th', 'source'))), body),
        ),
    );
}

export function statusPage(root) {
    const content = h('div.status-content', spinner());
    const reloadBtn = h('button.btn', { type: 'button' }, '⟳ Reload');
    replace(root, h('section.status-page', h('div.toolbar', h('h1.page-title', 'Status'), h('div.spacer'), reloadBtn), content));

    async function load() {
        replace(content, spinner());
        const [status, ready] = await Promise.allSettled([api.status(), api.ready()]);
        if (status.status === 'rejected') {
            const e = status.reason;
            replace(
                content,
                notice(
                    'error',
                    e instanceof ApiError && e.unavailable
                        ? `The status API is not available on this server: ${e.message} (HTTP ${e.status})`
                        : `Could not load the status: ${e.message}`,
                ),
            );
            return;
        }
        const s = status.value || {};
        const b = s.build || {};
        const known = ['build', 'startTime', 'uptimeSeconds', 'ready', 'tenant', 'storageDetails', 'tiers', 'head', 'wal', 'upkeep', 'config'];
        const tenant = s.tenant || '(default)';
        // Totals over every tenant come only with storageDetails (auth off, or an admin).
        const adminsOnly = s.storageDetails === false ? 'Shown to administrators only: set a token with the admin role in Settings.' : null;
        const storagePanel = (cls, title, obj, missing) =>
            h(`div.panel.${cls}`, h('div.panel-head', h('h2.panel-title', title)), obj ? kv(obj) : h('div.empty', adminsOnly || missing));
        const extra = Object.fromEntries(Object.entries(s).filter(([k]) => !known.includes(k)));
        replace(
            content,
            h(
                'div.cards',
                h(
                    'div.panel.card.build-card',
                    h('div.panel-head', h('h2.panel-title', 'Build')),
                    kv({
                        version: b.version,
                        revision: b.revision,
                        'build date': b.buildDate,
                        'Loki API': b.lokiVersion,
                    }),
                ),
                h(
                    'div.panel.card',
                    h('div.panel-head', h('h2.panel-title', 'Process')),
                    kv({
                        ready: ready.status === 'fulfilled' ? 'ready' : `not ready (${ready.reason.message})`,
                        started: s.startTime ? formatTime(Date.parse(s.startTime), false) : undefined,
                        uptime: s.uptimeSeconds !== undefined ? formatDuration(Math.floor(s.uptimeSeconds) * 1000) : undefined,
                        tenant: s.tenant || '(default)',
                    }),
                ),
            ),
            h(
                'div.panel.tiers-panel',
                h(
                    'div.panel-head',
                    h('h2.panel-title', 'Tiers'),
                    h(
                        'span.panel-note',
                        `newest tier first; streams to bytes: tenant ${tenant}` + (s.storageDetails ? '; parts and on disk: the whole tier' : ''),
                    ),
                ),
                Array.isArray(s.tiers) && s.tiers.length ? tiersTable(s.tiers) : h('div.empty', 'No tiers reported.'),
            ),
            h(
                'div.cards',
                storagePanel('head-panel', 'Head (memory)', s.head, 'This server does not report its head.'),
                storagePanel('wal-panel', 'Write-ahead log', s.wal, 'This server does not report a WAL.'),
                storagePanel('upkeep-panel', 'Flushes and compaction', s.upkeep, 'This server does not report its upkeep.'),
            ),
            Object.keys(extra).length ? h('div.panel', h('div.panel-head', h('h2.panel-title', 'More')), kv(extra)) : null,
            h(
                'div.panel.config-panel',
                h('div.panel-head', h('h2.panel-title', 'Configuration'), h('span.panel-note', 'effective values; secrets are masked by the server')),
                Array.isArray(s.config) ? configTable(s.config) : h('div.empty', 'No configuration reported.'),
            ),
        );
    }

    reloadBtn.addEventListener('click', load);
    load();
    document.title = 'Status · Strata';
    return { destroy() {}, update() {} };
}

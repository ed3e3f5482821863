// logs.js - log entries: reading Loki's stream results, levels, and the rows on screen.
import { h } from './dom.js';
import { matchRanges } from './logql.js';
import { formatTime, nsToMs } from './time.js';

/**
 * Flatten Loki "streams" results into entries sorted by time (newest first
 * when backward). With categorize-labels each value has a third element
 * {structuredMetadata, parsed}; without it, everything is in `stream`.
 */
export function entriesFromStreams(result, backward = true) {
    const out = [];
    for (const s of result || []) {
        const stream = s.stream || {};
        const key = streamKey(stream);
        for (const v of s.values || []) {
            const extra = v[2] || {};
            out.push({
                ns: String(v[0]),
                ms: nsToMs(v[0]),
                line: String(v[1] ?? ''),
                stream,
                key,
                meta: extra.structuredMetadata || {},
                parsed: extra.parsed || {},
            });
        }
    }
    out.sort((a, b) => compareNs(a.ns, b.ns) * (backward ? -1 : 1));
    return out;
}

/** Compare decimal nanosecond strings without losing precision. */
export function compareNs(a, b) {
    if (a.length !== b.length) return a.length < b.length ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

/** {a:"1", b:"2"} -> '{a="1", b="2"}' (sorted by name). */
export function streamKey(labels) {
    return (
        '{' +
        Object.keys(labels)
            .sort()
            .map((k) => `${k}=${JSON.stringify(String(labels[k]))}`)
            .join(', ') +
        '}'
    );
}

/** The identity used to drop an entry returned twice (paging overlap, tail reconnect). */
export function entryId(e) {
    return e.ns + '\u0000' + e.key + '\u0000' + e.line;
}

const LEVEL_ALIASES = {
    critical: 'critical', crit: 'critical', fatal: 'critical', panic: 'critical', emerg: 'critical',
    emergency: 'critical', alert: 'critical',
    error: 'error', err: 'error', eror: 'error',
    warn: 'warn', warning: 'warn', wrn: 'warn',
    info: 'info', information: 'info', informational: 'info', notice: 'info', inf: 'info',
    debug: 'debug', dbg: 'debug', debu: 'debug',
    trace: 'trace', trc: 'trace',
};

/** A level word in any common spelling -> one of LEVELS, or null. */
export function normalizeLevel(v) {
    if (v === undefined || v === null) return null;
    return LEVEL_ALIASES[String(v).trim().toLowerCase()] || null;
}

const LEVEL_KEYS = ['detected_level', 'level', 'lvl', 'severity', 'severity_text', 'loglevel'];
const LEVEL_IN_LINE =
    /\b(?:level|lvl|severity)["']?\s*[=:]\s*["']?([A-Za-z]+)|\b(CRITICAL|FATAL|PANIC|ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE)\b/i;

/** The level of an entry: from its labels, metadata or parsed fields, else guessed from the line. */
export function levelOf(e) {
    for (const src of [e.stream, e.meta, e.parsed])
        for (const k of LEVEL_KEYS) {
            const l = normalizeLevel(src && src[k]);
            if (l) return l;
        }
    const m = LEVEL_IN_LINE.exec(e.line.length > 2000 ? e.line.slice(0, 2000) : e.line);
    return (m && normalizeLevel(m[1] || m[2])) || 'unknown';
}

/** The line as text nodes with <mark> around filter matches. */
export function highlighted(line, filters) {
    if (!filters || !filters.length) return [line];
    const ranges = matchRanges(line, filters);
    const parts = [];
    let at = 0;
    for (const [a, b] of ranges) {
        if (a > at) parts.push(line.slice(at, a));
        parts.push(h('mark', line.slice(a, b)));
        at = b;
    }
    if (at < line.length) parts.push(line.slice(at));
    return parts;
}

/** The +/- buttons beside a field: filter for it, or filter it out. */
function filterButtons(onFilter, kind, k, v) {
    const btn = (negate) =>
        h(
            'button.icon-btn',
            {
                title: `Filter ${negate ? 'out' : 'for'} ${k}="${v}"`,
                'aria-label': `Filter ${negate ? 'out' : 'for'} ${k}`,
                onclick: (ev) => {
                    ev.stopPropagation();
                    onFilter(kind, k, v, negate);
                },
            },
            negate ? '−' : '+',
        );
    return h('td.kv-actions', btn(false), btn(true));
}

function kvTable(title, obj, onFilter, kind) {
    const keys = Object.keys(obj || {}).sort();
    if (!keys.length) return null;
    const rows = keys.map((k) =>
        h('tr', h('th', k), h('td', String(obj[k])), onFilter ? filterButtons(onFilter, kind, k, String(obj[k])) : null),
    );
    return h('div.kv-section', h('div.kv-title', title), h('table.kv', h('tbody', rows)));
}

function details(e, onFilter) {
    const box = h(
        'div.log-details',
        h(
            'div.kv-section',
            h('div.kv-title', 'Entry'),
            h(
                'table.kv',
                h(
                    'tbody',
                    h('tr', h('th', 'timestamp'), h('td', new Date(e.ms).toISOString())),
                    h('tr', h('th', 'nanoseconds'), h('td', e.ns)),
                    h('tr', h('th', 'stream'), h('td', e.key)),
                ),
            ),
        ),
        kvTable('Labels', e.stream, onFilter, 'label'),
        kvTable('Structured metadata', e.meta, onFilter, 'meta'),
        kvTable('Parsed fields', e.parsed, onFilter, 'parsed'),
        h(
            'div.log-detail-actions',
            h(
                'button.btn.btn-small',
                {
                    onclick: (ev) => {
                        ev.stopPropagation();
                        navigator.clipboard?.writeText(e.line).catch(() => {});
                    },
                },
                'Copy line',
            ),
        ),
    );
    return box;
}

/**
 * One log row (a <div> holding the summary line and, once expanded, the
 * details). filters are lineFilters() of the query; onFilter(kind, name,
 * value, negate) adds a matcher to the query.
 */
export function logRow(e, filters, onFilter) {
    const level = e.level || (e.level = levelOf(e));
    const toggle = h('button.log-toggle', { 'aria-expanded': 'false', 'aria-label': 'Show details' }, '▸');
    const summary = h(
        'div.log-summary',
        toggle,
        h('span.log-time', { title: new Date(e.ms).toISOString() }, formatTime(e.ms)),
        h(`span.log-level.lvl-${level}`, level),
        h('span.log-line', highlighted(e.line, filters)),
    );
    const row = h(`div.log-row.lvl-${level}`, { dataset: { level } }, summary);
    let box = null;
    summary.addEventListener('click', (ev) => {
        if (window.getSelection && String(window.getSelection()).length && ev.target !== toggle) return;
        const open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', String(open));
        toggle.textContent = open ? '▾' : '▸';
        row.classList.toggle('open', open);
        if (open && !box) {
            box = details(e, onFilter);
            row.appendChild(box);
        }
        if (box) box.hidden = !open;
    });
    return row;
}

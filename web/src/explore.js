// explore.js - the Explore page: query editor, time range, volume, logs, metrics,
// live tail, and LogsGO's Series and Graph views.
//
// Everything the page shows follows from its state, and the state is the URL
// fragment (state.js): running a query writes the URL, opening a URL runs it.
import { ApiError, api, msToNs } from './api.js';
import { attachAutocomplete } from './autocomplete.js';
import { LEVELS, countChart, paletteColor, seriesChart, volumeChart } from './charts.js';
import { h, notice, replace, spinner } from './dom.js';
import { entriesFromStreams, entryId, levelOf, logRow, normalizeLevel, streamKey } from './logs.js';
import { addLabelMatcher, addPipelineFilter, isLogQuery, lineFilters } from './logql.js';
import { settings } from './settings.js';
import { writeHash } from './state.js';
import { logqlProvider, logsgoProvider, rememberLabels } from './suggest.js';
import { startTail } from './tail.js';
import { timePicker } from './timepicker.js';
import {
    formatBytes,
    formatCount,
    formatTime,
    niceStep,
    parseDuration,
    resolveRange,
} from './time.js';

const DEFAULTS = {
    lang: 'logql',
    query: '',
    from: 'now-1h',
    to: 'now',
    limit: '100',
    dir: 'backward',
    live: '',
    view: 'series',
    instant: '',
    res: '',
};
const LIMITS = ['100', '500', '1000', '5000'];

function stateFrom(params) {
    const s = { ...DEFAULTS };
    for (const k of Object.keys(DEFAULTS)) if (params.get(k) !== null) s[k] = params.get(k);
    if (s.lang !== 'logsgoql') s.lang = 'logql';
    if (!LIMITS.includes(s.limit)) s.limit = DEFAULTS.limit;
    if (s.dir !== 'forward') s.dir = 'backward';
    if (s.view !== 'graph') s.view = 'series';
    return s;
}

/** The URL parameters of a state (defaults left out, so links stay short). */
function paramsOf(s) {
    const p = {};
    for (const [k, v] of Object.entries(s)) if (v !== DEFAULTS[k] || k === 'from' || k === 'to') p[k] = v;
    if (!p.query) delete p.query;
    return p;
}

/** LogsGO durations are one <int><d|h|m|s>. */
function logsgoDuration(sec) {
    for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60]]) if (sec % n === 0) return sec / n + u;
    return sec + 's';
}

/** The parse error's position as the query line with a caret under it, or null. */
function caretFor(query, message) {
    const m = /line (\d+), col (\d+)/.exec(message);
    if (!m) return null;
    const lines = query.split('\n');
    const line = lines[Number(m[1]) - 1];
    const col = Number(m[2]);
    if (line === undefined || col < 1 || col > line.length + 1) return null;
    return h('pre.caret', line + '\n' + ' '.repeat(col - 1) + '^');
}

function statsLine(stats, ms, returned) {
    const parts = [];
    if (stats) {
        parts.push(`${formatCount(stats.totalLinesProcessed || 0)} lines scanned`);
        parts.push(`${formatBytes(stats.totalBytesProcessed || 0)} scanned`);
        if (stats.execTime !== undefined) parts.push(`exec ${(stats.execTime * 1000).toFixed(1)} ms`);
    }
    if (returned !== undefined) parts.push(`${formatCount(returned)} returned`);
    parts.push(`${Math.round(ms)} ms round trip`);
    return parts.join(' · ');
}

function addStats(acc, s) {
    if (!s) return acc;
    const out = acc ? { ...acc } : {};
    for (const k of ['totalLinesProcessed', 'totalBytesProcessed', 'execTime', 'totalEntriesReturned'])
        out[k] = (out[k] || 0) + (Number(s[k]) || 0);
    return out;
}

export function explorePage(root) {
    let st = { ...DEFAULTS };
    let controller = null;
    let tail = null;
    let charts = [];
    const cleanup = () => {
        charts.forEach((c) => c.destroy());
        charts = [];
        if (tail) tail.stop();
        tail = null;
        if (controller) controller.abort();
        controller = null;
    };

    // ---- the query bar ----
    const langBtns = {
        logql: h('button.seg', { type: 'button', dataset: { lang: 'logql' } }, 'LogQL'),
        logsgoql: h('button.seg', { type: 'button', dataset: { lang: 'logsgoql' } }, 'LogsGoQL'),
    };
    const editor = h('textarea.query-input', {
        rows: '1',
        spellcheck: 'false',
        autocomplete: 'off',
        autocapitalize: 'off',
        'aria-label': 'Query',
    });
    const editorWrap = h('div.editor-wrap', editor);
    const runBtn = h('button.btn.btn-primary.run-btn', { type: 'button', title: 'Run query (Enter or Ctrl+Enter)' }, 'Run query');
    const errorBox = h('div.query-error', { role: 'alert', hidden: true });

    const tp = timePicker(
        () => ({ from: st.from, to: st.to }),
        (r) => {
            st.from = r.from;
            st.to = r.to;
            run(true);
        },
    );
    const refreshBtn = h('button.btn.refresh-btn', { type: 'button', title: 'Run again (relative ranges move to now)', 'aria-label': 'Refresh' }, '⟳ Refresh');
    const limitSel = h(
        'select.input',
        { 'aria-label': 'Line limit', title: 'Most lines returned' },
        LIMITS.map((n) => h('option', { value: n }, `${n} lines`)),
    );
    const dirSel = h(
        'select.input',
        { 'aria-label': 'Order', title: 'Which lines come first' },
        h('option', { value: 'backward' }, 'Newest first'),
        h('option', { value: 'forward' }, 'Oldest first'),
    );
    const liveBtn = h('button.btn.live-btn', { type: 'button', 'aria-pressed': 'false', title: 'Follow new lines as they arrive' }, h('span.live-dot'), 'Live');
    const instantChk = h('input', { type: 'checkbox', 'aria-label': 'Instant query' });
    const resIn = h('input.input.res-input', { type: 'text', placeholder: 'auto', size: '5', 'aria-label': 'Resolution', title: 'Resolution: <int><d|h|m|s>, 0s for raw samples' });
    const logqlOpts = h('div.opts', limitSel, dirSel, liveBtn);
    const logsgoOpts = h('div.opts', h('label.check', instantChk, 'Instant'), h('label.inline-field', 'Resolution', resIn));
    const results = h('div.results');

    const page = h(
        'section.explore',
        h(
            'div.query-bar',
            h('div.seg-group', { role: 'group', 'aria-label': 'Query language' }, langBtns.logql, langBtns.logsgoql),
            editorWrap,
            runBtn,
        ),
        errorBox,
        h('div.toolbar', tp.el, refreshBtn, logqlOpts, logsgoOpts),
        results,
    );
    replace(root, page);

    const logqlAc = logqlProvider(() => {
        try {
            return resolveRange(st);
        } catch {
            return { start: Date.now() - 3600e3, end: Date.now() };
        }
    });
    const logsgoAc = logsgoProvider();
    const ac = attachAutocomplete(editor, (text, cur) => (st.lang === 'logsgoql' ? logsgoAc : logqlAc)(text, cur));

    function grow() {
        editor.style.height = 'auto';
        editor.style.height = Math.min(editor.scrollHeight + 2, 240) + 'px';
    }

    function syncControls() {
        for (const [k, b] of Object.entries(langBtns)) b.setAttribute('aria-pressed', String(st.lang === k));
        if (editor.value !== st.query) editor.value = st.query;
        editor.placeholder =
            st.lang === 'logsgoql'
                ? 'LogsGoQL, e.g. service=api & level=error  (Enter to run)'
                : 'LogQL, e.g. {app="api"} |= "error"  (Enter to run)';
        limitSel.value = st.limit;
        dirSel.value = st.dir;
        const live = st.live === '1';
        liveBtn.setAttribute('aria-pressed', String(live));
        liveBtn.classList.toggle('on', live);
        liveBtn.disabled = st.lang !== 'logql';
        logqlOpts.hidden = st.lang !== 'logql';
        logsgoOpts.hidden = st.lang !== 'logsgoql';
        limitSel.disabled = dirSel.disabled = live;
        tp.el.classList.toggle('disabled', live);
        tp.el.querySelector('button').disabled = live;
        refreshBtn.disabled = live;
        instantChk.checked = st.instant === '1';
        resIn.value = st.res;
        resIn.disabled = st.instant === '1';
        tp.refresh();
        grow();
    }

    function showQueryError(message) {
        replace(errorBox, h('div.query-error-text', message), caretFor(st.query, message));
        errorBox.hidden = false;
    }

    function clearQueryError() {
        errorBox.hidden = true;
        errorBox.replaceChildren();
    }

    /** An API failure: syntax errors (400) under the editor, the rest in the results. */
    function showFailure(e, where) {
        if (e.name === 'AbortError') return;
        if (e instanceof ApiError && e.status === 400) {
            showQueryError(e.message);
            replace(results);
            return;
        }
        let text = e.message;
        if (e instanceof ApiError && e.unavailable)
            text = `${where} is not available on this server yet: ${e.message} (HTTP ${e.status})`;
        else if (e instanceof ApiError && e.status) text = `${where} failed: ${e.message} (HTTP ${e.status})`;
        replace(results, notice('error', text));
    }

    function onFilter(kind, name, value, negate) {
        if (kind === 'label') st.query = addLabelMatcher(st.query, name, negate ? '!=' : '=', value);
        else st.query = addPipelineFilter(st.query, name, negate ? '!=' : '=', value);
        editor.value = st.query;
        run(true);
    }

    // ---- running ----
    function run(push) {
        cleanup();
        ac.close();
        st.query = editor.value;
        writeHash('explore', paramsOf(st), push);
        syncControls();
        clearQueryError();
        document.title = (st.query.trim() ? st.query.trim().slice(0, 60) + ' · ' : '') + 'Explore · Strata';
        if (!st.query.trim()) {
            replace(
                results,
                notice(
                    'info',
                    st.lang === 'logsgoql'
                        ? 'Type a LogsGoQL expression such as service=api & level=error and press Enter. Fields: service, level, message and your custom labels; & (AND), | (OR) and parentheses combine them.'
                        : 'Type a LogQL query such as {app="api"} |= "error" and press Enter. Start with { to pick labels; metric queries such as sum by (level) (count_over_time({app="api"}[1m])) draw a graph.',
                ),
            );
            return;
        }
        if (st.live === '1' && st.lang === 'logql') {
            if (!isLogQuery(st.query)) {
                replace(results, notice('warn', 'Live tail follows log queries only (a query starting with {).'));
                return;
            }
            tail = startTail(results, { query: st.query, filters: lineFilters(st.query), onFilter });
            return;
        }
        let range;
        try {
            range = resolveRange(st);
        } catch (e) {
            replace(results, notice('error', e.message));
            return;
        }
        controller = new AbortController();
        if (st.lang === 'logsgoql') runLogsgo(range, controller.signal);
        else if (isLogQuery(st.query)) runLogs(range, controller.signal);
        else runMetric(range, controller.signal);
    }

    async function runLogs(range, signal) {
        const volumeEl = h('div.chart');
        const volumeNote = h('span.panel-note');
        const volumePanel = h('div.panel.volume-panel', h('div.panel-head', h('h2.panel-title', 'Log volume'), volumeNote), volumeEl);
        const countEl = h('h2.panel-title', 'Logs');
        const statsEl = h('span.stats');
        const wrapChk = h('input', { type: 'checkbox', checked: settings.wrapLines });
        const rowsEl = h('div.log-rows', { class: settings.wrapLines ? 'wrap' : '' });
        const moreEl = h('div.more');
        wrapChk.addEventListener('change', () => {
            settings.wrapLines = wrapChk.checked;
            rowsEl.classList.toggle('wrap', wrapChk.checked);
        });
        const logsPanel = h(
            'div.panel.logs-panel',
            h('div.panel-head', countEl, statsEl, h('div.spacer'), h('label.check', wrapChk, 'Wrap lines')),
            rowsEl,
            moreEl,
        );
        replace(results, volumePanel, logsPanel);
        replace(rowsEl, spinner('Running query…'));
        volumeEl.appendChild(spinner('Counting…'));

        const backward = st.dir === 'backward';
        const limit = Number(st.limit);
        const filters = lineFilters(st.query);
        const t0 = performance.now();
        const volumeP = fetchVolume(range, signal);
        volumeP.catch(() => {}); // awaited below, after the lines
        let data;
        try {
            data = await api.queryRange(
                { query: st.query, startNs: msToNs(range.start), endNs: msToNs(range.end), limit, direction: st.dir },
                { signal },
            );
        } catch (e) {
            if (!signal.aborted) showFailure(e, 'The query');
            return;
        }
        if (signal.aborted) return;
        if (data.resultType !== 'streams') {
            return renderMetric(data, range, t0);
        }
        const seen = new Set();
        let entries = entriesFromStreams(data.result, backward).filter((e) => {
            seen.add(entryId(e));
            return true;
        });
        let stats = addStats(null, data.stats && data.stats.summary);
        const seenStreams = new Set();
        const remember = (list) => {
            for (const e of list)
                if (!seenStreams.has(e.key)) {
                    seenStreams.add(e.key);
                    rememberLabels(e.stream);
                }
        };
        remember(entries);
        rowsEl.replaceChildren();
        const appendRows = (list) => {
            const frag = document.createDocumentFragment();
            for (const e of list) frag.appendChild(logRow(e, filters, onFilter));
            rowsEl.appendChild(frag);
        };
        appendRows(entries);
        const renderHead = (ms) => {
            countEl.textContent = `Logs · ${formatCount(entries.length)} line${entries.length === 1 ? '' : 's'}`;
            statsEl.textContent = statsLine(stats, ms, entries.length);
        };
        renderHead(performance.now() - t0);
        if (!entries.length)
            rowsEl.appendChild(h('div.empty', `No logs between ${formatTime(range.start, false)} and ${formatTime(range.end, false)}.`));

        // Paging: the next page ends (backward) or starts (forward) at the last entry
        // shown, that nanosecond included so that no entry sharing it is skipped. The
        // entries already shown at that nanosecond come again (dropped by id), so the
        // page asks for that many more.
        const pageMore = async (btn) => {
            btn.disabled = true;
            btn.textContent = 'Loading…';
            const edge = entries[entries.length - 1].ns;
            let atEdge = 0;
            for (let i = entries.length - 1; i >= 0 && entries[i].ns === edge; i--) atEdge++;
            const p = backward
                ? { startNs: msToNs(range.start), endNs: (BigInt(edge) + 1n).toString() }
                : { startNs: edge, endNs: msToNs(range.end) };
            const want = Math.min(limit + atEdge, 5000);
            const t1 = performance.now();
            try {
                const d = await api.queryRange({ query: st.query, limit: want, direction: st.dir, ...p }, { signal });
                if (signal.aborted) return;
                stats = addStats(stats, d.stats && d.stats.summary);
                const fresh = entriesFromStreams(d.result, backward).filter((e) => !seen.has(entryId(e)) && seen.add(entryId(e)));
                remember(fresh);
                entries = entries.concat(fresh);
                appendRows(fresh);
                renderHead(performance.now() - t1);
                const got = (d.result || []).reduce((n, s) => n + (s.values || []).length, 0);
                renderMore(got >= want && fresh.length > 0);
            } catch (e) {
                if (signal.aborted) return;
                replace(moreEl, notice('error', 'Loading more failed: ' + e.message));
            }
        };
        const renderMore = (more) => {
            if (!more) {
                replace(moreEl, entries.length ? h('div.end', 'No more lines in this time range.') : null);
                return;
            }
            const btn = h('button.btn.more-btn', { type: 'button' }, backward ? 'Load older' : 'Load newer');
            btn.addEventListener('click', () => pageMore(btn));
            replace(moreEl, btn);
        };
        renderMore(entries.length >= limit);

        // The volume: the server's answer, or the lines at hand when it has none.
        let vol;
        try {
            vol = await volumeP;
        } catch (e) {
            if (signal.aborted) return;
            vol = volumeFromEntries(entries, range);
            volumeNote.textContent = `Counted from the ${formatCount(entries.length)} lines shown: the server's volume query failed.`;
            volumeNote.title = e.message;
        }
        if (signal.aborted) return;
        replace(volumeEl);
        if (!vol.levels.length) {
            volumeEl.appendChild(h('div.empty', 'No log volume in this range.'));
            return;
        }
        charts.push(
            volumeChart(volumeEl, {
                ...vol,
                startMs: range.start,
                endMs: range.end,
                onSelect: (a, b) => {
                    st.from = String(a);
                    st.to = String(b);
                    run(true);
                },
            }),
        );
    }

    /** Steps for the volume: about 100 bars, aligned to the step. */
    function volumeSteps(range) {
        const step = niceStep(range.end - range.start, 100);
        const first = (Math.floor(range.start / 1000 / step) + 1) * step;
        const last = Math.ceil(range.end / 1000 / step) * step;
        const times = [];
        for (let t = first; t <= last; t += step) times.push(t);
        return { step, first, last, times };
    }

    async function fetchVolume(range, signal) {
        const { step, first, last, times } = volumeSteps(range);
        const q = `sum by (level, detected_level) (count_over_time(${st.query} | drop __error__ [${step}s]))`;
        const d = await api.queryRange(
            { query: q, startNs: String(first), endNs: String(last), step: step + 's' },
            { signal },
        );
        if (d.resultType !== 'matrix') throw new Error('unexpected result type ' + d.resultType);
        const byLevel = new Map();
        for (const s of d.result || []) {
            const m = s.metric || {};
            const level = normalizeLevel(m.detected_level) || normalizeLevel(m.level) || 'unknown';
            if (!byLevel.has(level)) byLevel.set(level, new Array(times.length).fill(0));
            const counts = byLevel.get(level);
            for (const [t, v] of s.values || []) {
                const i = Math.round((Number(t) - first) / step);
                if (i >= 0 && i < counts.length) counts[i] += Number(v) || 0;
            }
        }
        return { times, stepSec: step, levels: [...byLevel].map(([level, counts]) => ({ level, counts })) };
    }

    function volumeFromEntries(entries, range) {
        const { step, first, times } = volumeSteps(range);
        const byLevel = new Map();
        for (const e of entries) {
            const level = e.level || (e.level = levelOf(e));
            const i = Math.ceil(e.ms / 1000 / step) * step;
            const idx = Math.round((i - first) / step);
            if (idx < 0 || idx >= times.length) continue;
            if (!byLevel.has(level)) byLevel.set(level, new Array(times.length).fill(0));
            byLevel.get(level)[idx]++;
        }
        const levels = LEVELS.filter((l) => byLevel.has(l)).map((level) => ({ level, counts: byLevel.get(level) }));
        return { times, stepSec: step, levels };
    }

    async function runMetric(range, signal) {
        replace(results, spinner('Running query…'));
        const step = niceStep(range.end - range.start, 250);
        const t0 = performance.now();
        try {
            const d = await api.queryRange(
                { query: st.query, startNs: msToNs(range.start), endNs: msToNs(range.end), step: step + 's', limit: Number(st.limit) },
                { signal },
            );
            if (!signal.aborted) renderMetric(d, range, t0);
        } catch (e) {
            if (!signal.aborted) showFailure(e, 'The query');
        }
    }

    function metricLabel(metric) {
        const keys = Object.keys(metric || {});
        return keys.length ? streamKey(metric) : st.query.trim();
    }

    function renderMetric(d, range, t0) {
        const stats = d.stats && d.stats.summary;
        const ms = performance.now() - t0;
        const result = d.result || [];
        if (d.resultType === 'streams') {
            replace(results, notice('info', 'This query returned log lines: run it as a log query.'));
            return;
        }
        const statsEl = h('span.stats', statsLine(stats, ms));
        if (d.resultType === 'scalar') {
            replace(results, h('div.panel', h('div.panel-head', h('h2.panel-title', 'Scalar'), statsEl), h('div.scalar', String(result[1]))));
            return;
        }
        if (d.resultType === 'vector') {
            replace(
                results,
                h(
                    'div.panel',
                    h('div.panel-head', h('h2.panel-title', `${result.length} series`), statsEl),
                    h('table.table', h('thead', h('tr', h('th', 'Series'), h('th', 'Value'))), h('tbody', result.map((s) => h('tr', h('td.mono', metricLabel(s.metric)), h('td.num', String(s.value[1])))))),
                ),
            );
            return;
        }
        // matrix
        const tset = new Set();
        for (const s of result) for (const [t] of s.values || []) tset.add(Number(t));
        const times = [...tset].sort((a, b) => a - b);
        const index = new Map(times.map((t, i) => [t, i]));
        const series = result.map((s) => {
            const values = new Array(times.length).fill(null);
            for (const [t, v] of s.values || []) values[index.get(Number(t))] = Number(v);
            rememberLabels(s.metric);
            return { label: metricLabel(s.metric), values };
        });
        const chartEl = h('div.chart');
        replace(
            results,
            h('div.panel.metric-panel', h('div.panel-head', h('h2.panel-title', `${result.length} series`), statsEl), result.length ? chartEl : h('div.empty', 'No data points in this time range.')),
        );
        if (result.length) charts.push(seriesChart(chartEl, { times, series, startMs: range.start, endMs: range.end }));
    }

    // ---- LogsGO ----
    async function runLogsgo(range, signal) {
        const instant = st.instant === '1';
        const end = Math.floor(range.end / 1000);
        const start = instant ? end : Math.floor(range.start / 1000);
        let res = st.res.trim();
        if (!res) res = instant ? '0s' : logsgoDuration(niceStep(range.end - range.start, 60));
        else if (Number.isNaN(parseDuration(res)) && res !== '0s') {
            showQueryError(`Invalid resolution "${res}": use <int><d|h|m|s>, e.g. 15m`);
            return;
        }
        replace(results, spinner('Running query…'));
        const t0 = performance.now();
        let series;
        try {
            series = await api.logsgoQuery({ expression: st.query, start, end, resolution: res }, { signal });
        } catch (e) {
            if (!signal.aborted) showFailure(e, 'The LogsGO query API');
            return;
        }
        if (signal.aborted) return;
        if (!Array.isArray(series)) series = [];
        // LogsGO leaves the order unspecified: sort as the table reads.
        const sortKey = (s) => [s.Service, s.Level, labelText(s.Labels), s.Message].join('\u0000');
        series.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
        for (const s of series) rememberLabels({ service: s.Service, level: s.Level, ...(s.Labels || {}) });
        const ms = performance.now() - t0;
        const tabs = {
            series: h('button.tab', { type: 'button', role: 'tab', dataset: { view: 'series' } }, 'Series'),
            graph: h('button.tab', { type: 'button', role: 'tab', dataset: { view: 'graph' } }, 'Graph'),
        };
        if (instant) tabs.graph.disabled = true;
        const body = h('div.tab-body');
        const show = (view) => {
            if (instant) view = 'series';
            charts.forEach((c) => c.destroy());
            charts = [];
            for (const [k, b] of Object.entries(tabs)) b.setAttribute('aria-selected', String(k === view));
            if (view === 'graph') renderLogsgoGraph(body, series, start, end);
            else renderLogsgoTable(body, series);
        };
        for (const [k, b] of Object.entries(tabs))
            b.addEventListener('click', () => {
                st.view = k;
                writeHash('explore', paramsOf(st), false);
                show(k);
            });
        replace(
            results,
            h(
                'div.panel.logsgo-panel',
                h(
                    'div.panel-head',
                    h('div.tabs', { role: 'tablist' }, tabs.series, tabs.graph),
                    h('span.badge', `${series.length} series`),
                    h('span.stats', `${instant ? 'instant' : 'range, resolution ' + res} · ${Math.round(ms)} ms round trip`),
                ),
                body,
            ),
        );
        show(st.view);
    }

    function labelText(labels) {
        return Object.keys(labels || {})
            .sort()
            .map((k) => `${k}=${labels[k]}`)
            .join(', ');
    }

    function renderLogsgoTable(body, series) {
        if (!series.length) {
            replace(body, h('div.empty', 'No series matched.'));
            return;
        }
        replace(
            body,
            h(
                'div.table-scroll',
                h(
                    'table.table.series-table',
                    h('thead', h('tr', h('th', 'Service'), h('th', 'Level'), h('th', 'Labels'), h('th', 'Message'), h('th', 'Occurrence(s): TimeStamp(s)'))),
                    h(
                        'tbody',
                        series.map((s) =>
                            h(
                                'tr',
                                h('td', s.Service),
                                h('td', h(`span.log-level.lvl-${normalizeLevel(s.Level) || 'unknown'}`, s.Level)),
                                h('td.mono', labelText(s.Labels)),
                                h('td.mono.msg', s.Message),
                                h('td.mono.points', (s.Points || []).map((p) => h('div', `${p.Count} : ${formatTime(p.Timestamp * 1000, false)}`))),
                            ),
                        ),
                    ),
                ),
            ),
        );
    }

    function renderLogsgoGraph(body, series, start, end) {
        const withPoints = series.filter((s) => (s.Points || []).length);
        const head = h(
            'div.graph-head',
            `Selected range: ${formatTime(start * 1000, false)} to ${formatTime(end * 1000, false)}`,
            h('span.badge', `${withPoints.length} series`),
        );
        if (!withPoints.length) {
            replace(body, head, h('div.empty', 'No range data returned for this query.'));
            return;
        }
        const cards = withPoints.map((s, i) => {
            const el = h('div.chart');
            const peak = Math.max(...s.Points.map((p) => p.Count));
            const title = [s.Service, s.Level, labelText(s.Labels)].filter(Boolean).join(' · ');
            const card = h('div.series-card', h('div.series-card-head', h('div', h('div.series-title', title), h('div.series-msg', s.Message)), h('span.badge', `peak ${formatCount(peak)}`)), el);
            return { card, el, s, color: paletteColor(i) };
        });
        replace(body, head, h('div.series-grid', cards.map((c) => c.card)));
        for (const c of cards) charts.push(countChart(c.el, { points: c.s.Points, color: c.color, startSec: start, endSec: end }));
    }

    // ---- events ----
    for (const [k, b] of Object.entries(langBtns))
        b.addEventListener('click', () => {
            if (st.lang === k) return;
            st.lang = k;
            st.live = '';
            st.query = '';
            editor.value = '';
            run(true);
            editor.focus();
        });
    editor.addEventListener('input', grow);
    editor.addEventListener('keydown', (ev) => {
        if (ev.defaultPrevented || ev.key !== 'Enter' || ev.isComposing) return;
        if (ev.shiftKey && !ev.ctrlKey && !ev.metaKey) return; // a new line
        ev.preventDefault();
        run(true);
    });
    runBtn.addEventListener('click', () => run(true));
    refreshBtn.addEventListener('click', () => run(false));
    limitSel.addEventListener('change', () => {
        st.limit = limitSel.value;
        run(false);
    });
    dirSel.addEventListener('change', () => {
        st.dir = dirSel.value;
        run(false);
    });
    liveBtn.addEventListener('click', () => {
        st.live = st.live === '1' ? '' : '1';
        run(false);
    });
    instantChk.addEventListener('change', () => {
        st.instant = instantChk.checked ? '1' : '';
        run(false);
    });
    resIn.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') {
            st.res = resIn.value.trim();
            run(true);
        }
    });
    resIn.addEventListener('change', () => {
        st.res = resIn.value.trim();
    });

    return {
        /** Show the state of these URL parameters; runs the query when it changed. */
        update(params) {
            const next = stateFrom(params);
            const same = Object.keys(DEFAULTS).every((k) => next[k] === st[k]);
            if (same && results.childNodes.length) return;
            st = next;
            editor.value = st.query;
            run(false);
        },
        destroy: cleanup,
        focus() {
            editor.focus();
        },
    };
}


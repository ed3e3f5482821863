// labels.js - the Labels browser: label names, their values, and a selector built from them.
//
// Loki's labels API lists names and values in the time range; choosing values
// builds a selector ({app=~"a|b", env="prod"}) that opens in Explore. LogsGO's
// labels (services, levels, custom labels) are listed beside it.
import { ApiError, api } from './api.js';
import { h, notice, replace, spinner } from './dom.js';
import { escapeRegex, quoteLogql } from './logql.js';
import { hashFor } from './state.js';
import { timePicker } from './timepicker.js';
import { resolveRange } from './time.js';

function failure(e, what) {
    if (e instanceof ApiError && e.unavailable)
        return notice('warn', `${what} is not available on this server yet: ${e.message} (HTTP ${e.status})`);
    return notice('error', `${what} failed: ${e.message}`);
}

/** {name: Set(values)} -> '{a="x", b=~"y|z"}'. */
export function selectorOf(chosen) {
    const parts = [];
    for (const name of Object.keys(chosen).sort()) {
        const vals = [...chosen[name]].sort();
        if (!vals.length) continue;
        if (vals.length === 1) parts.push(`${name}=${quoteLogql(vals[0])}`);
        else parts.push(`${name}=~${quoteLogql(vals.map(escapeRegex).join('|'))}`);
    }
    return parts.length ? '{' + parts.join(', ') + '}' : '';
}

export function labelsPage(root, params) {
    let range = { from: params.get('from') || 'now-6h', to: params.get('to') || 'now' };
    const chosen = {};
    let current = null;
    const tp = timePicker(
        () => range,
        (r) => {
            range = r;
            history.replaceState(null, '', hashFor('labels', range));
            load();
        },
    );
    const namesFilter = h('input.input', { type: 'search', placeholder: 'Filter label names', 'aria-label': 'Filter label names' });
    const namesEl = h('ul.pick-list.names');
    const valuesFilter = h('input.input', { type: 'search', placeholder: 'Filter values', 'aria-label': 'Filter values' });
    const valuesEl = h('ul.pick-list.values');
    const valuesTitle = h('h2.panel-title', 'Values');
    const selectorEl = h('code.selector');
    const exploreLink = h('a.btn.btn-primary', { href: '#/explore' }, 'Show logs');
    const clearBtn = h('button.btn', { type: 'button' }, 'Clear');
    const logsgoEl = h('div.logsgo-labels');
    let names = [];
    let values = [];

    replace(
        root,
        h(
            'section.labels-page',
            h('div.toolbar', h('h1.page-title', 'Labels'), h('div.spacer'), tp.el),
            h('div.panel.selector-panel', h('div.panel-head', h('h2.panel-title', 'Selector'), h('div.spacer'), clearBtn, exploreLink), selectorEl),
            h(
                'div.labels-grid',
                h('div.panel', h('div.panel-head', h('h2.panel-title', 'Label names')), namesFilter, namesEl),
                h('div.panel', h('div.panel-head', valuesTitle), valuesFilter, valuesEl),
            ),
            h('div.panel', h('div.panel-head', h('h2.panel-title', 'LogsGO labels')), logsgoEl),
        ),
    );

    function renderSelector() {
        const sel = selectorOf(chosen);
        selectorEl.textContent = sel || 'Pick label values below to build a selector.';
        exploreLink.setAttribute('href', sel ? hashFor('explore', { query: sel, from: range.from, to: range.to }) : '#/explore');
        exploreLink.classList.toggle('disabled', !sel);
    }

    function renderNames() {
        const f = namesFilter.value.toLowerCase();
        replace(
            namesEl,
            names
                .filter((n) => n.toLowerCase().includes(f))
                .map((n) =>
                    h(
                        'li',
                        h(
                            'button.pick',
                            {
                                type: 'button',
                                'aria-pressed': String(n === current),
                                onclick: () => pickName(n),
                            },
                            n,
                            chosen[n] && chosen[n].size ? h('span.badge', String(chosen[n].size)) : null,
                        ),
                    ),
                ),
        );
        if (!names.length) namesEl.appendChild(h('li.empty', 'No labels in this time range.'));
    }

    function renderValues() {
        const f = valuesFilter.value.toLowerCase();
        const set = chosen[current] || new Set();
        replace(
            valuesEl,
            values
                .filter((v) => v.toLowerCase().includes(f))
                .map((v) =>
                    h(
                        'li',
                        h(
                            'button.pick',
                            {
                                type: 'button',
                                'aria-pressed': String(set.has(v)),
                                onclick: () => {
                                    if (!chosen[current]) chosen[current] = new Set();
                                    const s = chosen[current];
                                    if (s.has(v)) s.delete(v);
                                    else s.add(v);
                                    renderValues();
                                    renderNames();
                                    renderSelector();
                                },
                            },
                            v,
                        ),
                    ),
                ),
        );
    }

    async function pickName(n) {
        current = n;
        valuesTitle.textContent = `Values of ${n}`;
        renderNames();
        replace(valuesEl, spinner());
        try {
            const r = resolveRange(range);
            values = (await api.labelValues(n, r.start, r.end)) || [];
            renderValues();
        } catch (e) {
            replace(valuesEl, failure(e, 'The label values API'));
        }
    }

    async function load() {
        replace(namesEl, spinner());
        try {
            const r = resolveRange(range);
            names = ((await api.labels(r.start, r.end)) || []).slice().sort();
            renderNames();
        } catch (e) {
            replace(namesEl, failure(e, 'The labels API'));
        }
        replace(logsgoEl, spinner());
        try {
            const l = (await api.logsgoLabels()) || {};
            const row = (title, vals) =>
                h('div.lg-row', h('div.lg-title', title), h('div.chips', (vals || []).length ? vals.map((v) => h('span.chip', v)) : h('span.muted', 'none')));
            replace(
                logsgoEl,
                row('Services', l.Services),
                row('Levels', l.Levels),
                Object.keys(l.CustomLabels || {})
                    .sort()
                    .map((k) => row(k, l.CustomLabels[k])),
            );
        } catch (e) {
            replace(logsgoEl, failure(e, 'The LogsGO labels API'));
        }
    }

    namesFilter.addEventListener('input', renderNames);
    valuesFilter.addEventListener('input', renderValues);
    clearBtn.addEventListener('click', () => {
        for (const k of Object.keys(chosen)) delete chosen[k];
        renderNames();
        if (current) renderValues();
        renderSelector();
    });
    renderSelector();
    load();
    document.title = 'Labels · Strata';
    return { destroy() {}, update() {} };
}

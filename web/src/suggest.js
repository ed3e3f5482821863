// suggest.js - where autocomplete's candidates come from, for LogQL and LogsGoQL.
//
// Label names and values come from the labels APIs (cached for 30 s per time
// range), restricted to the streams of the selector's other matchers when it
// has some (after {env="dev", the values of app are those of env="dev"). When
// an API fails (down, or not on this server), the labels seen in the latest
// results are offered instead and the list's title says so.
import { ApiError, api } from './api.js';
import {
    LOGQL_KEYWORDS,
    escapeRegex,
    logqlContext,
    logsgoContext,
    logsgoValue,
    otherMatchers,
} from './logql.js';
import { rankSuggestions } from './rank.js';

const TTL_MS = 30000;
const cache = new Map();

async function cached(key, fn) {
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
    const value = fn();
    cache.set(key, { at: Date.now(), value });
    value.catch(() => cache.delete(key));
    return value;
}

/** Forget cached label lists (after a push in tests, or a tenant change). */
export function clearSuggestCache() {
    cache.clear();
}

// Labels seen in results: name -> Set(values). Fed by the pages that show results.
const seen = new Map();

/** Remember the labels of shown results (stream labels, metadata, LogsGO fields). */
export function rememberLabels(obj) {
    for (const [k, v] of Object.entries(obj || {})) {
        if (typeof v !== 'string') continue;
        if (!seen.has(k)) seen.set(k, new Set());
        const s = seen.get(k);
        if (s.size < 1000) s.add(v);
    }
}

function seenNames() {
    return [...seen.keys()];
}

function seenValues(name) {
    return [...(seen.get(name) || [])];
}

/** Round the range so that cache keys repeat while the user types. */
function rangeKey(r) {
    return Math.floor(r.start / 60000) + ':' + Math.ceil(r.end / 60000);
}

/**
 * fetch(selector) restricted to the other matchers' streams, or unrestricted
 * when there are none or the server refuses the selector (400): a half-typed
 * query must not cost the user their suggestions.
 */
async function restricted(fetch, selector) {
    if (!selector) return fetch(null);
    try {
        return await fetch(selector);
    } catch (e) {
        if (e instanceof ApiError && e.status === 400) return fetch(null);
        throw e;
    }
}

async function withFallback(fetcher, fallback, what) {
    try {
        return { values: await fetcher(), title: null };
    } catch (e) {
        const values = fallback();
        return {
            values,
            title: values.length ? `${what} seen in results (API: ${e.message})` : null,
        };
    }
}

/** LogQL provider for attachAutocomplete; getRange() gives {start, end} in ms. */
export function logqlProvider(getRange) {
    return async (text, cursor) => {
        const ctx = logqlContext(text, cursor);
        if (!ctx) return null;
        let values;
        let title = null;
        if (ctx.kind === 'label') {
            const r = getRange();
            const sel = otherMatchers(text, cursor);
            ({ values, title } = await withFallback(
                () =>
                    cached(`names:${rangeKey(r)}:${sel || ''}`, () =>
                        restricted((q) => api.labels(r.start, r.end, q), sel),
                    ),
                seenNames,
                'Labels',
            ));
        } else if (ctx.kind === 'value') {
            const r = getRange();
            const sel = otherMatchers(text, cursor);
            ({ values, title } = await withFallback(
                () =>
                    cached(`values:${ctx.label}:${rangeKey(r)}:${sel || ''}`, () =>
                        restricted((q) => api.labelValues(ctx.label, r.start, r.end, q), sel),
                    ),
                () => seenValues(ctx.label),
                'Values',
            ));
        } else {
            if (ctx.term.length < 2) return null;
            values = LOGQL_KEYWORDS;
        }
        const items = rankSuggestions(values || [], ctx.term);
        if (ctx.kind === 'keyword' && items.length === 1 && items[0] === ctx.term) return null;
        return {
            items,
            title,
            accept(item) {
                if (ctx.kind === 'label') {
                    const after = text.slice(ctx.to);
                    if (/^\s*(=|!=|=~|!~)/.test(after)) {
                        const t = text.slice(0, ctx.from) + item + after;
                        return { text: t, cursor: ctx.from + item.length };
                    }
                    const t = text.slice(0, ctx.from) + item + '=""' + after;
                    return { text: t, cursor: ctx.from + item.length + 2, reopen: true };
                }
                if (ctx.kind === 'value') {
                    let v = ctx.op === '=~' || ctx.op === '!~' ? escapeRegex(item) : item;
                    v = v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
                    let after = text.slice(ctx.to);
                    if (!ctx.quoted) {
                        const t = text.slice(0, ctx.from) + '"' + v + '"' + after;
                        return { text: t, cursor: ctx.from + v.length + 2 };
                    }
                    // Replace up to the closing quote when the caret sits inside a value.
                    const close = after.search(/(?<!\\)"/);
                    if (close >= 0 && !/[,}]/.test(after.slice(0, close))) after = after.slice(close + 1);
                    const t = text.slice(0, ctx.from) + v + '"' + after;
                    return { text: t, cursor: ctx.from + v.length + 1 };
                }
                const t = text.slice(0, ctx.from) + item + text.slice(ctx.to);
                return { text: t, cursor: ctx.from + item.length };
            },
        };
    };
}

/** LogsGO's labels object -> {keys, values(key)}. */
function logsgoCandidates(l) {
    const custom = (l && l.CustomLabels) || {};
    const keys = ['service', 'level', ...Object.keys(custom)];
    return {
        keys,
        values(key) {
            const k = key.toLowerCase();
            if (k === 'service') return (l && l.Services) || [];
            if (k === 'level') return (l && l.Levels) || [];
            return custom[key] || [];
        },
    };
}

/** LogsGoQL provider: candidates from /api/v1/labels (LogsGO's own source). */
export function logsgoProvider() {
    return async (text, cursor) => {
        const ctx = logsgoContext(text, cursor);
        if (!ctx) return null;
        let cands;
        let title = null;
        try {
            cands = logsgoCandidates(await cached('logsgo', () => api.logsgoLabels()));
        } catch (e) {
            const fake = { Services: seenValues('service'), Levels: seenValues('level'), CustomLabels: {} };
            for (const k of seenNames())
                if (k !== 'service' && k !== 'level') fake.CustomLabels[k] = seenValues(k);
            cands = logsgoCandidates(fake);
            title = `Seen in results (API: ${e.message})`;
        }
        const values = ctx.kind === 'key' ? cands.keys : cands.values(ctx.key);
        const items = rankSuggestions(values, ctx.term);
        return {
            items,
            title,
            accept(item) {
                if (ctx.kind === 'key') {
                    const after = text.slice(ctx.to);
                    const eq = /^\s*=/.test(after) ? '' : '=';
                    const t = text.slice(0, ctx.from) + item + eq + after;
                    return { text: t, cursor: ctx.from + item.length + eq.length, reopen: eq !== '' };
                }
                if (ctx.quote) {
                    let after = text.slice(ctx.to);
                    if (after.startsWith(ctx.quote)) after = after.slice(1);
                    const t = text.slice(0, ctx.from) + item + ctx.quote + after;
                    return { text: t, cursor: ctx.from + item.length + 1 };
                }
                const v = logsgoValue(item);
                const t = text.slice(0, ctx.from) + v + text.slice(ctx.to);
                return { text: t, cursor: ctx.from + v.length };
            },
        };
    };
}

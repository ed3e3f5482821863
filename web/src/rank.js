// rank.js - LogsGO's autocomplete ranking, as its dashboard does it.
//
// Candidates that contain the typed term (case-insensitive substring) are
// kept; those that start with it come first, each group in alphabetical
// order; at most 10 are offered. An empty term keeps every candidate.

export const MAX_SUGGESTIONS = 10;

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: false });

/**
 * rankSuggestions(['api', 'rapid', 'app'], 'ap') -> ['api', 'app', 'rapid'].
 * Duplicates are removed; non-string candidates are ignored.
 */
export function rankSuggestions(candidates, term, max = MAX_SUGGESTIONS) {
    const t = String(term || '').toLowerCase();
    const seen = new Set();
    const prefix = [];
    const inner = [];
    for (const c of candidates) {
        if (typeof c !== 'string' || seen.has(c)) continue;
        seen.add(c);
        const l = c.toLowerCase();
        const at = l.indexOf(t);
        if (at === 0) prefix.push(c);
        else if (at > 0) inner.push(c);
    }
    const order = (a, b) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
    prefix.sort(order);
    inner.sort(order);
    return prefix.concat(inner).slice(0, max);
}

// state.js - the page and its state live in the URL fragment: #/explore?query=...&from=...
//
// A link therefore reproduces what its sender saw (query, language, time
// range, options), the server only ever serves "/", and Back/Forward step
// through earlier queries.

export const PAGES = ['explore', 'labels', 'status'];

/** The current {page, params} from location.hash. */
export function readHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const q = raw.indexOf('?');
    const name = (q < 0 ? raw : raw.slice(0, q)) || 'explore';
    const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    return { page: PAGES.includes(name) ? name : 'explore', params };
}

/** "#/page?k=v" for an object of parameters (null, undefined and '' omitted). */
export function hashFor(page, params) {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {}))
        if (v !== null && v !== undefined && v !== '') sp.set(k, String(v));
    const s = sp.toString();
    return '#/' + page + (s ? '?' + s : '');
}

/**
 * Point the URL at page/params. push adds a history entry (a new query);
 * otherwise the current entry is replaced (typing, toggles). Does not fire
 * hashchange (the caller renders itself) but a 'strata:urlchange' event.
 */
export function writeHash(page, params, push = false) {
    const h = hashFor(page, params);
    if (h === location.hash) return;
    if (push) history.pushState(null, '', h);
    else history.replaceState(null, '', h);
    window.dispatchEvent(new Event('strata:urlchange'));
}

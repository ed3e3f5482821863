// api.js - every call the dashboard makes to Strata.
//
// URLs are relative to the page ("loki/api/v1/..."), never absolute: the
// dashboard works on the main listener, on --web-listen-addr, and behind a
// reverse proxy under any path prefix. Each request carries the token
// (Authorization: Bearer) and the tenant (X-Scope-OrgID) from the settings.
// Failures become an ApiError whose message is the server's own text (Loki's
// plain-text errors, LogsGO's {"error":...}), ready to show to the user.
// Every path used here must also be in web_routes (src/server/routes.c), the
// route table of --web-listen-addr.
import { settings } from './settings.js';

export class ApiError extends Error {
    constructor(status, message, path) {
        super(message);
        this.status = status; // 0 when the server could not be reached
        this.path = path;
    }
    /** True when the server does not have this endpoint yet (501) or at all (404). */
    get unavailable() {
        return this.status === 501 || this.status === 404;
    }
}

export function authHeaders() {
    const h = {};
    if (settings.token) h.Authorization = 'Bearer ' + settings.token;
    if (settings.tenant) h['X-Scope-OrgID'] = settings.tenant;
    return h;
}

/** A URL relative to the page, with query parameters (skipping null/undefined). */
export function apiUrl(path, params) {
    const u = new URL(path, document.baseURI);
    for (const [k, v] of Object.entries(params || {})) {
        if (v === null || v === undefined) continue;
        if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
        else u.searchParams.set(k, String(v));
    }
    return u;
}

/** The readable error text of a failed response. */
async function errorText(res) {
    let text = '';
    try {
        text = (await res.text()).trim();
    } catch {
        /* body unreadable */
    }
    if (text.startsWith('{')) {
        try {
            const j = JSON.parse(text);
            if (typeof j.message === 'string') return j.message;
            if (typeof j.error === 'string') return j.error;
        } catch {
            /* not JSON after all */
        }
    }
    if (!text) text = res.statusText || 'HTTP ' + res.status;
    if (res.status === 401) text += ' (set a token in Settings)';
    return text;
}

/**
 * GET path with params; resolves to parsed JSON (or text with {text: true}).
 * Throws ApiError. opts: {signal, headers, text}.
 */
export async function get(path, params, opts = {}) {
    const url = apiUrl(path, params);
    let res;
    try {
        res = await fetch(url, {
            headers: { ...authHeaders(), ...(opts.headers || {}) },
            signal: opts.signal,
            cache: 'no-store',
        });
    } catch (e) {
        if (e.name === 'AbortError') throw e;
        throw new ApiError(0, 'Cannot reach the Strata server: ' + e.message, path);
    }
    if (!res.ok) throw new ApiError(res.status, await errorText(res), path);
    if (opts.text) return res.text();
    try {
        return await res.json();
    } catch {
        throw new ApiError(res.status, 'The server sent a response that is not JSON', path);
    }
}

/** Loki's envelope {status, data}: returns data or throws. */
async function loki(path, params, opts) {
    const body = await get(path, params, opts);
    if (body && body.status && body.status !== 'success')
        throw new ApiError(200, body.error || 'query failed: ' + body.status, path);
    return body.data;
}

/** Nanoseconds as a decimal string from epoch milliseconds (exact for integers). */
export function msToNs(ms) {
    return (BigInt(Math.round(ms)) * 1000000n).toString();
}

export const api = {
    queryRange(p, opts) {
        return loki(
            'loki/api/v1/query_range',
            {
                query: p.query,
                start: p.startNs,
                end: p.endNs,
                limit: p.limit,
                direction: p.direction,
                step: p.step,
            },
            { ...opts, headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } },
        );
    },
    /** Label names; `query` (a selector, optional) keeps those of its streams only. */
    labels(startMs, endMs, query, opts) {
        return loki(
            'loki/api/v1/labels',
            { start: msToNs(startMs), end: msToNs(endMs), query: query || null },
            opts,
        );
    },
    labelValues(name, startMs, endMs, query, opts) {
        return loki(
            'loki/api/v1/label/' + encodeURIComponent(name) + '/values',
            { start: msToNs(startMs), end: msToNs(endMs), query: query || null },
            opts,
        );
    },
    /** LogsGO: expression, start/end unix seconds, resolution duration. */
    logsgoQuery(p, opts) {
        return get(
            'api/v1/query',
            { expression: p.expression, start: p.start, end: p.end, resolution: p.resolution },
            opts,
        );
    },
    logsgoLabels(opts) {
        return get('api/v1/labels', null, opts);
    },
    status(opts) {
        return get('api/v1/status', null, opts);
    },
    ready(opts) {
        return get('ready', null, { ...opts, text: true });
    },
};

/** base64url (RFC 4648 section 5) of a string's UTF-8 bytes, without padding. */
export function base64url(text) {
    let bin = '';
    for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The subprotocol the server answers when it took the credentials below. */
export const TAIL_PROTOCOL = 'strata.v1';

/**
 * The WebSocket subprotocols that carry a token and a tenant, since a browser
 * cannot put headers on a WebSocket handshake: 'strata.v1', then
 * 'strata.bearer.<base64url(token)>' and 'strata.tenant.<base64url(tenant)>'
 * for those that are set. A server that knows the convention takes them as the
 * request's Authorization and X-Scope-OrgID and answers 'strata.v1'. Without a
 * token or a tenant nothing is offered, so the tail works with any server.
 */
export function tailProtocols(token = settings.token, tenant = settings.tenant) {
    if (!token && !tenant) return [];
    const p = [TAIL_PROTOCOL];
    if (token) p.push('strata.bearer.' + base64url(token));
    if (tenant) p.push('strata.tenant.' + base64url(tenant));
    return p;
}

/** ws:// or wss:// URL of the tail endpoint (relative to the page). */
export function tailUrl(params) {
    const u = apiUrl('loki/api/v1/tail', params);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u;
}

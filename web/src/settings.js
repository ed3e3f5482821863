// settings.js - what the browser remembers: token, tenant, theme, preferences.
//
// Everything lives in localStorage under "strata.*", so a reload or a new tab
// keeps it; nothing of it goes into the URL (links are shared, tokens not).

const PREFIX = 'strata.';

function read(key, def) {
    try {
        const v = localStorage.getItem(PREFIX + key);
        return v === null ? def : v;
    } catch {
        return def;
    }
}

function write(key, value) {
    try {
        if (value === null || value === undefined || value === '')
            localStorage.removeItem(PREFIX + key);
        else localStorage.setItem(PREFIX + key, String(value));
    } catch {
        /* storage disabled: settings last for this page only */
    }
}

export const settings = {
    /** The bearer token sent as Authorization (auth arrives with the security work). */
    get token() {
        return read('token', '');
    },
    set token(v) {
        write('token', v.trim());
    },
    /** X-Scope-OrgID for every request; empty means the server's default tenant. */
    get tenant() {
        return read('tenant', '');
    },
    set tenant(v) {
        write('tenant', v.trim());
    },
    /** 'auto' (follow the system), 'light' or 'dark'. */
    get theme() {
        return read('theme', 'auto');
    },
    set theme(v) {
        write('theme', v === 'auto' ? '' : v);
        applyTheme();
    },
    get wrapLines() {
        return read('wrap', '1') === '1';
    },
    set wrapLines(v) {
        write('wrap', v ? '1' : '0');
    },
    get tailCap() {
        return Number(read('tailCap', '1000')) || 1000;
    },
    set tailCap(v) {
        write('tailCap', v);
    },
};

const listeners = new Set();

/** Call fn after the theme changes (charts redraw with the new colours). */
export function onThemeChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

/** The theme in effect: 'light' or 'dark'. */
export function effectiveTheme() {
    const t = settings.theme;
    if (t === 'light' || t === 'dark') return t;
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches
        ? 'dark'
        : 'light';
}

export function applyTheme() {
    document.documentElement.dataset.theme = effectiveTheme();
    for (const fn of listeners) fn();
}

// (No window when the unit tests import this in node.)
if (typeof window !== 'undefined' && window.matchMedia)
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);

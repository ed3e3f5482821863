// time.js - time ranges, durations, steps and formatting. Pure functions.
//
// A range is {from, to} as written in the URL: either relative to now
// ("now-1h", "now") or absolute epoch milliseconds ("1718000000000").
// resolveRange turns it into numbers at the moment a query runs.

export const PRESETS = [
    { label: 'Last 5 minutes', short: '5m', from: 'now-5m' },
    { label: 'Last 1 hour', short: '1h', from: 'now-1h' },
    { label: 'Last 6 hours', short: '6h', from: 'now-6h' },
    { label: 'Last 24 hours', short: '24h', from: 'now-24h' },
    { label: 'Last 7 days', short: '7d', from: 'now-7d' },
];

const UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 };

/** "1h30m" -> ms, or NaN. Units ms s m h d w y, as Prometheus and LogsGO write them. */
export function parseDuration(s) {
    const re = /(\d+)(ms|s|m|h|d|w|y)/y;
    let total = 0;
    let pos = 0;
    s = String(s).trim();
    if (!s) return NaN;
    while (pos < s.length) {
        re.lastIndex = pos;
        const m = re.exec(s);
        if (!m) return NaN;
        total += Number(m[1]) * UNIT_MS[m[2]];
        pos = re.lastIndex;
    }
    return total;
}

/** ms -> the shortest exact duration text ("90s" -> "1m30s", 3600000 -> "1h"). */
export function formatDuration(ms) {
    if (ms <= 0) return '0s';
    const parts = [];
    for (const [u, n] of [
        ['d', 864e5],
        ['h', 36e5],
        ['m', 6e4],
        ['s', 1e3],
        ['ms', 1],
    ]) {
        if (ms >= n) {
            const k = Math.floor(ms / n);
            parts.push(k + u);
            ms -= k * n;
        }
    }
    return parts.join('');
}

/** One end of a range ("now", "now-15m", epoch ms) -> epoch ms, or NaN. */
export function resolveTime(v, now = Date.now()) {
    v = String(v ?? '').trim();
    if (v === 'now') return now;
    const rel = /^now-(.+)$/.exec(v);
    if (rel) return now - parseDuration(rel[1]);
    if (/^\d+$/.test(v)) return Number(v);
    const t = Date.parse(v);
    return Number.isNaN(t) ? NaN : t;
}

/** {from, to} -> {start, end} in epoch ms; throws with a readable message when invalid. */
export function resolveRange(range, now = Date.now()) {
    const start = resolveTime(range.from, now);
    const end = resolveTime(range.to, now);
    if (Number.isNaN(start)) throw new Error(`invalid start time "${range.from}"`);
    if (Number.isNaN(end)) throw new Error(`invalid end time "${range.to}"`);
    if (end <= start) throw new Error('the end of the time range must be after its start');
    return { start, end };
}

/** A short label for the picker button. */
export function describeRange(range) {
    const p = PRESETS.find((x) => x.from === range.from && range.to === 'now');
    if (p) return p.label;
    if (range.to === 'now' && /^now-/.test(range.from)) return 'Last ' + range.from.slice(4);
    try {
        const { start, end } = resolveRange(range);
        return formatTime(start, false) + ' to ' + formatTime(end, false);
    } catch {
        return range.from + ' to ' + range.to;
    }
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local time "2024-05-01 13:04:05.123" (ms optional). */
export function formatTime(ms, withMs = true) {
    const d = new Date(ms);
    const s =
        `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withMs ? s + '.' + pad(d.getMilliseconds(), 3) : s;
}

/** Value for <input type="datetime-local" step="1">, local time. */
export function toLocalInput(ms) {
    const d = new Date(ms);
    return (
        `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
}

/** A datetime-local value -> epoch ms (local time), or NaN. */
export function fromLocalInput(v) {
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(v || '');
    if (!m) return NaN;
    return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)).getTime();
}

/** A nanosecond timestamp (decimal string) -> epoch milliseconds, truncated. */
export function nsToMs(ns) {
    return Number(BigInt(ns) / 1000000n);
}

const NICE_STEPS_S = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800,
];

/** The smallest "nice" step in seconds giving at most `points` steps over rangeMs. */
export function niceStep(rangeMs, points) {
    const want = rangeMs / 1000 / points;
    for (const s of NICE_STEPS_S) if (s >= want) return s;
    return Math.ceil(want / 86400) * 86400;
}

/** Human bytes: 1536 -> "1.5 KiB". */
export function formatBytes(n) {
    n = Number(n);
    if (!Number.isFinite(n)) return String(n);
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
        n /= 1024;
        i++;
    }
    return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : String(n)) + ' ' + units[i];
}

/** 1234567 -> "1,234,567". */
export function formatCount(n) {
    return Number(n).toLocaleString('en-US');
}

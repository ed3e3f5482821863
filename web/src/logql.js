// logql.js - what the dashboard needs to know about a query's text. Pure functions.
//
// Not a parser: the server parses and reports errors. This only scans enough
// of LogQL and LogsGoQL to decide log vs metric query, find the line filters
// to highlight, and find what is being typed at the cursor for autocomplete.

/** A log query (streams) starts with a selector; anything else is a metric query. */
export function isLogQuery(q) {
    return /^\s*\{/.test(q);
}

/** Go's interpreted string escapes (the subset LogQL users write). */
export function unquoteGo(body) {
    let out = '';
    for (let i = 0; i < body.length; i++) {
        const c = body[i];
        if (c !== '\\' || i + 1 >= body.length) {
            out += c;
            continue;
        }
        const n = body[++i];
        const simple = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' };
        if (n in simple) out += simple[n];
        else if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(body.substr(i + 1, 2))) {
            out += String.fromCharCode(parseInt(body.substr(i + 1, 2), 16));
            i += 2;
        } else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(body.substr(i + 1, 4))) {
            out += String.fromCharCode(parseInt(body.substr(i + 1, 4), 16));
            i += 4;
        } else if (n === 'U' && /^[0-9a-fA-F]{8}$/.test(body.substr(i + 1, 8))) {
            out += String.fromCodePoint(parseInt(body.substr(i + 1, 8), 16));
            i += 8;
        } else if (/[0-7]/.test(n) && /^[0-7]{3}$/.test(body.substr(i, 3))) {
            out += String.fromCharCode(parseInt(body.substr(i, 3), 8));
            i += 2;
        } else out += n; // \" \\ \'
    }
    return out;
}

/** Tokens of LogQL outside strings: {t: 'str'|'word'|'op'|'punct', v, pos}. */
export function tokenize(q) {
    const toks = [];
    let i = 0;
    while (i < q.length) {
        const c = q[i];
        if (/\s/.test(c)) {
            i++;
        } else if (c === '"') {
            let j = i + 1;
            while (j < q.length && q[j] !== '"') j += q[j] === '\\' ? 2 : 1;
            toks.push({ t: 'str', v: unquoteGo(q.slice(i + 1, Math.min(j, q.length))), pos: i });
            i = j + 1;
        } else if (c === '`') {
            let j = q.indexOf('`', i + 1);
            if (j < 0) j = q.length;
            toks.push({ t: 'str', v: q.slice(i + 1, j), pos: i });
            i = j + 1;
        } else if (/[A-Za-z_]/.test(c)) {
            const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(i));
            toks.push({ t: 'word', v: m[0], pos: i });
            i += m[0].length;
        } else {
            const two = q.substr(i, 2);
            if (['|=', '|~', '!=', '!~', '=~', '==', '>=', '<=', '|>', '!>'].includes(two)) {
                toks.push({ t: 'op', v: two, pos: i });
                i += 2;
            } else {
                toks.push({ t: /[=<>|]/.test(c) ? 'op' : 'punct', v: c, pos: i });
                i++;
            }
        }
    }
    return toks;
}

/** RE2 syntax -> a JS RegExp (global), or null if JS cannot express it. */
export function re2ToJs(src) {
    let flags = 'g';
    let s = src;
    const lead = /^\(\?([imsU]+)\)/.exec(s);
    if (lead) {
        if (lead[1].includes('i')) flags += 'i';
        if (lead[1].includes('s')) flags += 's';
        if (lead[1].includes('m')) flags += 'm';
        s = s.slice(lead[0].length);
    }
    s = s.replace(/\(\?P</g, '(?<');
    try {
        return new RegExp(s, flags + 'u');
    } catch {
        try {
            return new RegExp(s, flags);
        } catch {
            return null;
        }
    }
}

/**
 * The positive line filters of a LogQL query, for highlighting:
 * [{kind: 'text', value}] for |= "x" (and its `or "y"` alternatives),
 * [{kind: 'regex', re}] for |~ "re". Negative filters are not highlighted.
 */
export function lineFilters(q) {
    const toks = tokenize(q);
    const out = [];
    for (let i = 0; i < toks.length; i++) {
        const op = toks[i];
        if (op.t !== 'op' || (op.v !== '|=' && op.v !== '|~')) continue;
        let j = i + 1;
        // |= ip("...") and other function forms are not highlighted.
        while (j < toks.length && toks[j].t === 'str') {
            const v = toks[j].v;
            if (op.v === '|=' && v !== '') out.push({ kind: 'text', value: v });
            if (op.v === '|~') {
                const re = re2ToJs(v);
                if (re) out.push({ kind: 'regex', re });
            }
            if (toks[j + 1] && toks[j + 1].t === 'word' && toks[j + 1].v === 'or') j += 2;
            else break;
        }
    }
    return out;
}

/**
 * The [start, end) ranges of line that the filters match, sorted and merged;
 * at most `max` ranges (a line full of matches stays readable and fast).
 */
export function matchRanges(line, filters, max = 200) {
    const ranges = [];
    for (const f of filters) {
        if (f.kind === 'text') {
            let at = line.indexOf(f.value);
            while (at >= 0 && ranges.length < max) {
                ranges.push([at, at + f.value.length]);
                at = line.indexOf(f.value, at + f.value.length);
            }
        } else {
            f.re.lastIndex = 0;
            let m;
            while (ranges.length < max && (m = f.re.exec(line))) {
                if (m[0].length === 0) {
                    f.re.lastIndex++;
                    continue;
                }
                ranges.push([m.index, m.index + m[0].length]);
            }
        }
    }
    ranges.sort((a, b) => a[0] - b[0]);
    const merged = [];
    for (const r of ranges) {
        const last = merged[merged.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
        else merged.push([r[0], r[1]]);
    }
    return merged;
}

// Words offered outside a selector: range functions, aggregations, pipeline stages.
export const LOGQL_KEYWORDS = [
    'count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time',
    'sum_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'first_over_time',
    'last_over_time', 'stdvar_over_time', 'stddev_over_time', 'quantile_over_time',
    'rate_counter', 'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk',
    'sort', 'sort_desc', 'by', 'without', 'vector', 'label_replace', 'json', 'logfmt', 'pattern',
    'regexp', 'unpack', 'line_format', 'label_format', 'unwrap', 'drop', 'keep', 'decolorize',
    'offset', 'bool', 'on', 'ignoring', 'and', 'or', 'unless',
];

/**
 * What is being typed at `cursor` in a LogQL query:
 *   {kind: 'label', term, from, to}               a label name inside {...}
 *   {kind: 'value', label, term, from, to, quoted} a label value after name= / name="
 *   {kind: 'keyword', term, from, to}              a word outside a selector
 *   null                                           nothing to complete
 * Replacing text[from, to) with the chosen item completes it.
 */
export function logqlContext(text, cursor) {
    let depth = 0;
    let segStart = -1; // after the innermost '{' or ',' of the open selector
    let quote = null; // '"' or '`' while inside a string
    let quoteAt = -1;
    for (let i = 0; i < cursor; i++) {
        const c = text[i];
        if (quote) {
            if (quote === '"' && c === '\\') i++;
            else if (c === quote) quote = null;
            continue;
        }
        if (c === '"' || c === '`') {
            quote = c;
            quoteAt = i;
        } else if (c === '{') {
            depth++;
            segStart = i + 1;
        } else if (c === '}') {
            depth = Math.max(0, depth - 1);
            segStart = -1;
        } else if (c === ',' && depth > 0) segStart = i + 1;
    }
    const before = text.slice(0, cursor);
    if (depth > 0 && segStart >= 0) {
        const seg = text.slice(segStart, cursor);
        if (quote) {
            const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*["`]/.exec(seg);
            if (m && segStart + m[0].length - 1 === quoteAt)
                return {
                    kind: 'value',
                    label: m[1],
                    op: m[2],
                    term: text.slice(quoteAt + 1, cursor),
                    from: quoteAt + 1,
                    to: cursor,
                    quoted: true,
                };
            return null;
        }
        let m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(seg);
        if (m) return { kind: 'value', label: m[1], op: m[2], term: '', from: cursor, to: cursor, quoted: false };
        m = /^\s*([A-Za-z_][A-Za-z0-9_]*)?$/.exec(seg);
        if (m) {
            const term = m[1] || '';
            return { kind: 'label', term, from: cursor - term.length, to: cursor };
        }
        return null;
    }
    if (quote) return null;
    const w = /[A-Za-z_][A-Za-z0-9_]*$/.exec(before);
    if (w) return { kind: 'keyword', term: w[0], from: cursor - w[0].length, to: cursor };
    return null;
}

const MATCHER_RE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*$/;

/**
 * The other complete matchers of the selector the cursor is in, as a selector
 * ('{env="dev", app=~"a|b"}'), to ask the labels API for only the names and
 * values that go with them (as Grafana does). null when the cursor is not in a
 * selector, when there are none, or when none of them would pass the server's
 * rule that a selector needs a matcher that does not match the empty string.
 */
export function otherMatchers(text, cursor) {
    // Find the '{' of the selector around the cursor, outside strings.
    let quote = null;
    let open = -1;
    for (let i = 0; i < cursor; i++) {
        const c = text[i];
        if (quote) {
            if (quote === '"' && c === '\\') i++;
            else if (c === quote) quote = null;
        } else if (c === '"' || c === '`') quote = c;
        else if (c === '{') open = i;
        else if (c === '}') open = -1;
    }
    if (open < 0) return null;
    // Split the selector's body at commas outside strings, up to its '}'.
    const segs = [];
    let from = open + 1;
    quote = null;
    let i = open + 1;
    for (; i < text.length; i++) {
        const c = text[i];
        if (quote) {
            if (quote === '"' && c === '\\') i++;
            else if (c === quote) quote = null;
        } else if (c === '"' || c === '`') quote = c;
        else if (c === ',' || c === '}') {
            segs.push([from, i]);
            from = i + 1;
            if (c === '}') break;
        }
    }
    if (i >= text.length) segs.push([from, text.length]);
    const keep = [];
    let selective = false;
    for (const [a, b] of segs) {
        if (cursor >= a && cursor <= b) continue; // the matcher being typed
        const m = MATCHER_RE.exec(text.slice(a, b));
        if (!m) continue;
        const value = m[3][0] === '`' ? m[3].slice(1, -1) : unquoteGo(m[3].slice(1, -1));
        if (m[2] === '=' && value !== '') selective = true;
        if (m[2] === '=~') {
            const re = re2ToJs('^(?:' + value + ')$');
            if (re && !re.test('')) selective = true;
        }
        keep.push(`${m[1]}${m[2]}${m[3]}`);
    }
    return selective ? '{' + keep.join(', ') + '}' : null;
}

/** Escape a value for a LogQL double-quoted string. */
export function quoteLogql(v) {
    return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

/** Escape regex metacharacters (for building =~ "a|b" from values). */
export function escapeRegex(v) {
    return v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const LOGSGO_WORD = /[A-Za-z0-9_.:/-]/;

/**
 * What is being typed at `cursor` in a LogsGoQL expression:
 *   {kind: 'key', term, from, to}                  a field (service, level, a label)
 *   {kind: 'value', key, term, from, to, quote}    a value after key= or key CONTAINS
 *   null
 */
export function logsgoContext(text, cursor) {
    const before = text.slice(0, cursor);
    // Inside a quoted value: key = "par|
    let m = /([A-Za-z0-9_.:/-]+)\s*(=|\s[Cc][Oo][Nn][Tt][Aa][Ii][Nn][Ss]\s)\s*(["'])([^"']*)$/.exec(before);
    if (m)
        return { kind: 'value', key: m[1], term: m[4], from: cursor - m[4].length, to: cursor, quote: m[3] };
    let end = cursor;
    let start = end;
    while (start > 0 && LOGSGO_WORD.test(text[start - 1])) start--;
    const term = text.slice(start, end);
    const head = text.slice(0, start);
    m = /([A-Za-z0-9_.:/-]+)\s*(=|\s[Cc][Oo][Nn][Tt][Aa][Ii][Nn][Ss]\s+)\s*$/.exec(head);
    if (m) return { kind: 'value', key: m[1], term, from: start, to: end, quote: null };
    if (/["']/.test(head.replace(/"[^"]*"|'[^']*'/g, ''))) return null; // in an unterminated string
    return { kind: 'key', term, from: start, to: end };
}

/** A LogsGoQL value as written: bare when it is all word characters, else quoted. */
export function logsgoValue(v) {
    return /^[A-Za-z0-9_.:/-]+$/.test(v) && !/^(and|or|contains)$/i.test(v) ? v : '"' + v + '"';
}

/** [open, close] indexes of the first top-level selector's braces, or null. */
function selectorBounds(q) {
    let quote = null;
    let open = -1;
    for (let i = 0; i < q.length; i++) {
        const c = q[i];
        if (quote) {
            if (quote === '"' && c === '\\') i++;
            else if (c === quote) quote = null;
        } else if (c === '"' || c === '`') quote = c;
        else if (c === '{' && open < 0) open = i;
        else if (c === '}' && open >= 0) return [open, i];
    }
    return null;
}

/** Add name op "value" to the query's first selector ({} is created when there is none). */
export function addLabelMatcher(q, name, op, value) {
    const m = `${name}${op}${quoteLogql(value)}`;
    const b = selectorBounds(q);
    if (!b) return `{${m}}` + (q.trim() ? ' ' + q.trim() : '');
    const inside = q.slice(b[0] + 1, b[1]);
    const sep = inside.trim() ? ', ' : '';
    return q.slice(0, b[1]).replace(/\s*$/, '') + sep + m + q.slice(b[1]);
}

/** Append a label filter stage `| name op "value"` to a log query. */
export function addPipelineFilter(q, name, op, value) {
    return q.replace(/\s*$/, '') + ` | ${name}${op}${quoteLogql(value)}`;
}

// dom.js - building DOM nodes without HTML strings.
//
// Log lines and label values come from anywhere: they only ever reach the page
// as text nodes or attribute values set through the DOM, never as markup.

/**
 * h('div.cls.other', {attrs, onclick: fn, dataset: {...}}, child, ...) -> Element.
 * Children may be strings (text), nodes, arrays, or null/false (skipped).
 */
export function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
        children.unshift(attrs);
        attrs = null;
    }
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
        else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')
            el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
}

/** Append children (strings, nodes, arrays, nulls) to el. */
export function append(el, children) {
    for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

/** Remove every child of el, then append children. */
export function replace(el, ...children) {
    el.replaceChildren();
    return append(el, children);
}

/** A message box: kind is 'error', 'info' or 'warn'. */
export function notice(kind, ...children) {
    return h(`div.notice.notice-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** A small spinner with a label. */
export function spinner(label = 'Loading…') {
    return h('div.loading', h('span.spin', { 'aria-hidden': 'true' }), label);
}

const SVG = 'http://www.w3.org/2000/svg';

/** A small stroke icon (the system fonts here have no emoji): 'clock'. */
export function icon(name) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('width', '14');
    svg.setAttribute('height', '14');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'icon');
    const shapes = {
        clock: [
            ['circle', { cx: 8, cy: 8, r: 6.5 }],
            ['path', { d: 'M8 4.5V8l2.5 1.5' }],
        ],
    };
    for (const [tag, attrs] of shapes[name] || []) {
        const el = document.createElementNS(SVG, tag);
        for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
        svg.appendChild(el);
    }
    return svg;
}

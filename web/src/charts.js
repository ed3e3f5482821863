// charts.js - the three kinds of chart, drawn by uPlot.
//
//   volumeChart   log volume as bars stacked by level; dragging selects a range
//   seriesChart   metric query results as lines, with a legend
//   countChart    one LogsGO series: occurrence counts over time
//
// Each returns {destroy()}; charts follow their container's width and are
// redrawn with the theme's colours when the theme changes.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { onThemeChange } from './settings.js';
import { formatCount, formatTime } from './time.js';

export const LEVELS = ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];
export const LEVEL_COLORS = {
    critical: '#a352cc',
    error: '#e02f44',
    warn: '#ff9830',
    info: '#56a64b',
    debug: '#3274d9',
    trace: '#6ed0e0',
    unknown: '#8e8e8e',
};

const PALETTE = [
    '#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0',
    '#508642', '#cca300', '#447ebc', '#c15c17', '#890f02', '#0a437c', '#6d1f62', '#584477',
];

export function paletteColor(i) {
    return PALETTE[i % PALETTE.length];
}

function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function axes(countLabel) {
    const fg = cssVar('--muted') || '#888';
    const grid = cssVar('--grid') || 'rgba(128,128,128,.15)';
    return [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
            stroke: fg,
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid },
            size: 50,
            label: countLabel,
            values: (u, vals) => vals.map((v) => (v >= 1e6 ? v / 1e6 + 'M' : v >= 1e3 ? v / 1e3 + 'k' : v)),
        },
    ];
}

/**
 * Mount a uPlot that is rebuilt by make() on theme changes and resized with
 * its container. make(width) returns the uPlot options and data.
 */
function mount(el, height, make) {
    let plot = null;
    const build = () => {
        if (plot) plot.destroy();
        const width = Math.max(200, el.clientWidth || 600);
        const { opts, data } = make(width);
        plot = new uPlot({ ...opts, width, height }, data, el);
    };
    build();
    const ro = new ResizeObserver(() => {
        const w = Math.max(200, el.clientWidth);
        if (plot && Math.abs(plot.width - w) > 1) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    const off = onThemeChange(build);
    return {
        get plot() {
            return plot;
        },
        destroy() {
            ro.disconnect();
            off();
            if (plot) plot.destroy();
            plot = null;
        },
    };
}

/**
 * Log volume: times[] (seconds, the end of each step), levels = [{level,
 * counts[]}], the range [startMs, endMs]. Dragging across the chart calls
 * onSelect(startMs, endMs).
 */
export function volumeChart(el, { times, levels, startMs, endMs, stepSec, onSelect }) {
    // Stack in a fixed order: the most severe at the bottom.
    const present = LEVELS.filter((l) => levels.some((x) => x.level === l));
    const raw = present.map((l) => levels.find((x) => x.level === l).counts);
    const cum = [];
    raw.forEach((counts, i) => cum.push(counts.map((c, j) => c + (i ? cum[i - 1][j] : 0))));
    return mount(el, 140, () => ({
        data: [times, ...cum],
        opts: {
            class: 'volume-chart',
            padding: [8, 8, 0, 0],
            legend: { show: true, live: true },
            cursor: {
                drag: { x: true, y: false, setScale: false },
                points: { show: false },
            },
            select: { show: true },
            scales: {
                x: { time: true, range: () => [startMs / 1000, endMs / 1000] },
                y: { range: (u, min, max) => [0, Math.max(1, max * 1.05)] },
            },
            axes: axes(''),
            bands: present.slice(1).map((_, i) => ({ series: [i + 2, i + 1] })),
            series: [
                {
                    label: 'Time',
                    value: (u, v) => (v == null ? '' : formatTime((v - stepSec) * 1000, false) + ' +' + stepSec + 's'),
                },
                ...present.map((level, i) => ({
                    label: level,
                    stroke: LEVEL_COLORS[level],
                    fill: LEVEL_COLORS[level] + 'cc',
                    width: 0,
                    paths: uPlot.paths.bars({ size: [0.85, Infinity, 1], align: -1 }),
                    points: { show: false },
                    value: (u, v, si, idx) => (idx == null ? '' : formatCount(raw[i][idx])),
                })),
            ],
            hooks: {
                setSelect: [
                    (u) => {
                        if (u.select.width < 3) return;
                        const a = u.posToVal(u.select.left, 'x');
                        const b = u.posToVal(u.select.left + u.select.width, 'x');
                        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
                        if (onSelect && b > a) onSelect(Math.floor(a * 1000), Math.ceil(b * 1000));
                    },
                ],
            },
        },
    }));
}

/** Metric results: times[] (seconds), series = [{label, values[] (null for gaps)}]. */
export function seriesChart(el, { times, series, startMs, endMs }) {
    return mount(el, 260, () => ({
        data: [times, ...series.map((s) => s.values)],
        opts: {
            class: 'series-chart',
            padding: [8, 8, 0, 0],
            legend: { show: true, live: true },
            cursor: { drag: { x: false, y: false }, focus: { prox: 16 } },
            focus: { alpha: 0.3 },
            scales: { x: { time: true, range: () => [startMs / 1000, endMs / 1000] } },
            axes: axes(''),
            series: [
                { label: 'Time', value: (u, v) => (v == null ? '' : formatTime(v * 1000, false)) },
                ...series.map((s, i) => ({
                    label: s.label,
                    stroke: paletteColor(i),
                    width: 1.5,
                    spanGaps: false,
                    points: { show: times.length < 60, size: 4 },
                    value: (u, v) => (v == null ? '' : String(+v.toPrecision(6))),
                })),
            ],
        },
    }));
}

/** One LogsGO series: points = [{Timestamp (s), Count}] over [startSec, endSec]. */
export function countChart(el, { points, color, startSec, endSec }) {
    const times = points.map((p) => p.Timestamp);
    const counts = points.map((p) => p.Count);
    return mount(el, 180, () => ({
        data: [times, counts],
        opts: {
            class: 'count-chart',
            padding: [8, 12, 0, 0],
            legend: { show: false },
            cursor: { drag: { x: false, y: false } },
            scales: {
                x: {
                    time: true,
                    range: (u, min, max) => {
                        const a = Math.min(startSec ?? min, min);
                        const b = Math.max(endSec ?? max, max);
                        return a === b ? [a - 60, b + 60] : [a, b];
                    },
                },
                y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
            },
            axes: axes(''),
            series: [
                {},
                { label: 'count', stroke: color, width: 2, fill: color + '22', points: { show: true, size: 6 } },
            ],
        },
    }));
}

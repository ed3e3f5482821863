// timepicker.js - the time-range button: relative presets and absolute from/to.
import { h, icon, replace } from './dom.js';
import {
    PRESETS,
    describeRange,
    fromLocalInput,
    resolveRange,
    toLocalInput,
} from './time.js';

/**
 * A time-range control. getRange() gives the current {from, to}; onChange(range)
 * is called with the new one. Returns {el, refresh()} (refresh relabels it).
 */
export function timePicker(getRange, onChange) {
    const label = h('span.tp-label');
    const button = h(
        'button.btn.tp-button',
        { type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', title: 'Time range' },
        icon('clock'),
        label,
    );
    const pop = h('div.tp-pop', { role: 'dialog', 'aria-label': 'Time range', hidden: true });
    const el = h('div.tp', button, pop);

    function refresh() {
        label.textContent = describeRange(getRange());
    }

    function close() {
        pop.hidden = true;
        button.setAttribute('aria-expanded', 'false');
        document.removeEventListener('mousedown', outside, true);
    }

    function outside(ev) {
        if (!el.contains(ev.target)) close();
    }

    function open() {
        const cur = getRange();
        let start;
        let end;
        try {
            ({ start, end } = resolveRange(cur));
        } catch {
            end = Date.now();
            start = end - 3600e3;
        }
        const fromIn = h('input.input', { type: 'datetime-local', step: '1', value: toLocalInput(start), 'aria-label': 'From' });
        const toIn = h('input.input', { type: 'datetime-local', step: '1', value: toLocalInput(end), 'aria-label': 'To' });
        const err = h('div.tp-error', { role: 'alert' });
        const apply = () => {
            const a = fromLocalInput(fromIn.value);
            const b = fromLocalInput(toIn.value);
            if (Number.isNaN(a) || Number.isNaN(b)) {
                err.textContent = 'Enter both times.';
                return;
            }
            if (b <= a) {
                err.textContent = '"To" must be after "From".';
                return;
            }
            close();
            onChange({ from: String(a), to: String(b) });
        };
        replace(
            pop,
            h(
                'div.tp-cols',
                h(
                    'div.tp-presets',
                    h('div.tp-head', 'Relative'),
                    PRESETS.map((p) =>
                        h(
                            'button.tp-preset',
                            {
                                type: 'button',
                                class: p.from === cur.from && cur.to === 'now' ? 'active' : '',
                                dataset: { preset: p.short },
                                onclick: () => {
                                    close();
                                    onChange({ from: p.from, to: 'now' });
                                },
                            },
                            p.label,
                        ),
                    ),
                ),
                h(
                    'div.tp-abs',
                    h('div.tp-head', 'Absolute'),
                    h('label.field', h('span', 'From'), fromIn),
                    h('label.field', h('span', 'To'), toIn),
                    err,
                    h('button.btn.btn-primary', { type: 'button', onclick: apply }, 'Apply time range'),
                ),
            ),
        );
        pop.hidden = false;
        button.setAttribute('aria-expanded', 'true');
        document.addEventListener('mousedown', outside, true);
        pop.addEventListener('keydown', (ev) => {
            if (ev.key === 'Escape') {
                close();
                button.focus();
            } else if (ev.key === 'Enter' && ev.target.tagName === 'INPUT') apply();
        });
    }

    button.addEventListener('click', () => (pop.hidden ? open() : close()));
    refresh();
    return { el, refresh, close };
}

// autocomplete.js - a suggestion list under the caret of a <textarea>.
//
// The provider decides what to offer: provider(text, cursor) resolves to null
// or {items: [string], title, accept(item) -> {text, cursor, reopen}}. Every
// edit closes the list at once and asks again: a list on screen always answers
// the text as it is now, so Tab can never take a suggestion computed for an
// earlier text (a slow answer is dropped when a newer question was asked).
// Providers cache what they fetch, so asking on every key is cheap and an
// answer from the cache replaces the list before the browser paints (no
// flicker). ArrowUp/Down move, Tab or a click accepts, Enter accepts only an
// item chosen with the arrows (otherwise Enter still runs the query), Escape
// closes, Ctrl+Space opens.
import { h, replace } from './dom.js';

// Properties copied to the mirror element that finds the caret's position.
const MIRROR_PROPS = [
    'boxSizing', 'width', 'borderTopWidth', 'borderRightWidth', 'borderBottomWidth',
    'borderLeftWidth', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
    'fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'letterSpacing', 'lineHeight',
    'textTransform', 'wordSpacing', 'tabSize', 'whiteSpace', 'wordWrap', 'overflowWrap',
];

/** The caret's {left, top, height} in px relative to the textarea's box. */
function caretPosition(ta, pos) {
    const style = getComputedStyle(ta);
    const mirror = document.createElement('div');
    for (const p of MIRROR_PROPS) mirror.style[p] = style[p];
    Object.assign(mirror.style, {
        position: 'absolute',
        visibility: 'hidden',
        top: '0',
        left: '-9999px',
        whiteSpace: 'pre-wrap',
        overflow: 'hidden',
    });
    mirror.textContent = ta.value.slice(0, pos);
    const mark = document.createElement('span');
    mark.textContent = '\u200b';
    mirror.appendChild(mark);
    document.body.appendChild(mirror);
    const r = {
        left: mark.offsetLeft - ta.scrollLeft,
        top: mark.offsetTop - ta.scrollTop,
        height: mark.offsetHeight || parseFloat(style.lineHeight) || 18,
    };
    mirror.remove();
    return r;
}

export function attachAutocomplete(ta, provider) {
    const list = h('ul.ac-list', { role: 'listbox', hidden: true });
    const wrap = ta.parentElement;
    wrap.appendChild(list);
    let items = [];
    let active = -1;
    let current = null;
    let seq = 0; // the question being answered; older answers are dropped

    list.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep focus in the editor

    function close() {
        list.hidden = true;
        list.replaceChildren();
        ta.setAttribute('aria-expanded', 'false');
        items = [];
        active = -1;
        current = null;
    }

    function render() {
        const children = [];
        if (current.title) children.push(h('li.ac-title', { role: 'presentation' }, current.title));
        items.forEach((it, i) =>
            children.push(
                h(
                    'li.ac-item',
                    {
                        role: 'option',
                        'aria-selected': String(i === active),
                        class: i === active ? 'active' : '',
                        onclick: () => accept(i),
                    },
                    it,
                ),
            ),
        );
        replace(list, children);
        const c = caretPosition(ta, ta.selectionStart);
        list.style.left = Math.max(0, Math.min(ta.offsetLeft + c.left, ta.offsetLeft + ta.clientWidth - 180)) + 'px';
        list.style.top = ta.offsetTop + c.top + c.height + 4 + 'px';
        list.hidden = false;
        ta.setAttribute('aria-expanded', 'true');
    }

    async function ask() {
        const my = ++seq;
        let res = null;
        try {
            res = await provider(ta.value, ta.selectionStart);
        } catch {
            res = null;
        }
        if (my !== seq || document.activeElement !== ta) return;
        if (!res || !res.items.length) {
            close();
            return;
        }
        current = res;
        items = res.items;
        active = -1;
        render();
    }

    function accept(i) {
        if (!current || i < 0 || i >= items.length) return;
        const r = current.accept(items[i]);
        close();
        ta.value = r.text;
        ta.setSelectionRange(r.cursor, r.cursor);
        ta.dispatchEvent(new Event('input', { bubbles: true }));
        if (r.reopen) ask();
        else seq++;
    }

    ta.setAttribute('aria-autocomplete', 'list');
    ta.setAttribute('aria-expanded', 'false');
    ta.addEventListener('input', (ev) => {
        if (!ev.isTrusted && !ev.inputType) return; // accept() sets the text itself
        close();
        ask();
    });
    ta.addEventListener('blur', () => {
        seq++;
        close();
    });
    ta.addEventListener('keydown', (ev) => {
        if (ev.key === ' ' && ev.ctrlKey) {
            ev.preventDefault();
            ask();
            return;
        }
        if (list.hidden) return;
        if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
            ev.preventDefault();
            const n = items.length;
            active = ev.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n;
            render();
        } else if (ev.key === 'Tab') {
            ev.preventDefault();
            accept(active >= 0 ? active : 0);
        } else if (ev.key === 'Enter' && active >= 0 && !ev.ctrlKey && !ev.metaKey) {
            ev.preventDefault();
            accept(active);
        } else if (ev.key === 'Escape') {
            ev.preventDefault();
            ev.stopPropagation();
            seq++;
            close();
        } else if (ev.key === 'Enter') {
            seq++;
            close();
        }
    });
    return {
        close,
        open: ask,
        get isOpen() {
            return !list.hidden;
        },
    };
}

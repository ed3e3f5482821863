// tail.js - live tail over Loki's /loki/api/v1/tail WebSocket.
//
// New entries are appended at the bottom (the view follows them while it is
// scrolled to the end). Pause keeps the socket and holds new entries back;
// Resume shows them. At most `cap` entries stay in the page: the oldest go.
// A dropped connection is retried with a growing delay, from just after the
// last entry seen, a bounded number of times.
//
// The token and tenant from Settings travel as WebSocket subprotocols
// (api.js tailProtocols), since a browser cannot set headers on a WebSocket.
import { TAIL_PROTOCOL, authHeaders, msToNs, tailProtocols, tailUrl } from './api.js';
import { h, notice, replace } from './dom.js';
import { entriesFromStreams, entryId, logRow } from './logs.js';
import { settings } from './settings.js';
import { formatCount } from './time.js';

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];

/** Why a WebSocket could not open: the endpoint's answer to a plain GET. */
async function probe(url) {
    const httpUrl = new URL(url);
    httpUrl.protocol = httpUrl.protocol === 'wss:' ? 'https:' : 'http:';
    try {
        const res = await fetch(httpUrl, { cache: 'no-store', headers: authHeaders() });
        const text = (await res.text()).trim();
        return { status: res.status, text: text || res.statusText };
    } catch (e) {
        return { status: 0, text: 'cannot reach the server: ' + e.message };
    }
}

/**
 * Start tailing `query` into `root`. filters/onFilter as for logRow.
 * Returns {stop()}.
 */
export function startTail(root, { query, filters, onFilter }) {
    let cap = settings.tailCap;
    let ws = null;
    let stopped = false;
    let paused = false;
    let held = [];
    let shown = 0;
    let total = 0;
    let dropped = 0;
    let lastNs = null;
    let attempt = 0;
    let everOpened = false;
    let retryTimer = null;
    const recent = new Set();

    const dot = h('span.live-dot', { 'aria-hidden': 'true' });
    const statusText = h('span.live-status-text', 'Connecting…');
    const counts = h('span.live-counts');
    const pauseBtn = h('button.btn.btn-small', { type: 'button', onclick: togglePause }, 'Pause');
    const capSel = h(
        'select.input.input-small',
        { 'aria-label': 'Lines kept', onchange: () => setCap(Number(capSel.value)) },
        [100, 500, 1000, 5000, 10000].map((n) => h('option', { value: String(n), selected: n === cap }, `Keep ${formatCount(n)} lines`)),
    );
    const clearBtn = h('button.btn.btn-small', { type: 'button', onclick: clear }, 'Clear');
    const msg = h('div.live-msg');
    const rows = h('div.log-rows.tail-rows', { role: 'log', 'aria-live': 'off' });
    const waiting = h('div.empty', 'Waiting for new lines…');
    const panel = h(
        'div.panel.tail-panel',
        h('div.panel-head', h('div.live-status', dot, statusText), counts, h('div.spacer'), capSel, pauseBtn, clearBtn),
        msg,
        h('div.log-scroll.tail-scroll', waiting, rows),
    );
    const scroller = panel.querySelector('.tail-scroll');
    replace(root, panel);

    function setStatus(state, text) {
        panel.dataset.state = state;
        statusText.textContent = text;
    }

    function updateCounts() {
        counts.textContent =
            `${formatCount(shown)} shown · ${formatCount(total)} received` +
            (dropped ? ` · ${formatCount(dropped)} dropped by the server` : '') +
            (held.length ? ` · ${formatCount(held.length)} waiting` : '');
    }

    function atBottom() {
        return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    }

    function trim() {
        while (shown > cap && rows.firstChild) {
            rows.firstChild.remove();
            shown--;
        }
    }

    function show(entries) {
        if (!entries.length) return;
        const follow = atBottom();
        const frag = document.createDocumentFragment();
        for (const e of entries.slice(-cap)) frag.appendChild(logRow(e, filters, onFilter));
        rows.appendChild(frag);
        shown += Math.min(entries.length, cap);
        trim();
        waiting.hidden = true;
        if (follow) scroller.scrollTop = scroller.scrollHeight;
    }

    function receive(data) {
        let msgObj;
        try {
            msgObj = JSON.parse(data);
        } catch {
            return;
        }
        const entries = entriesFromStreams(msgObj.streams, false).filter((e) => {
            const id = entryId(e);
            if (recent.has(id)) return false;
            recent.add(id);
            return true;
        });
        if (recent.size > 20000) recent.clear();
        if (Array.isArray(msgObj.dropped_entries)) dropped += msgObj.dropped_entries.length;
        if (entries.length) lastNs = entries[entries.length - 1].ns;
        total += entries.length;
        if (paused) {
            held.push(...entries);
            if (held.length > cap) held = held.slice(-cap);
        } else show(entries);
        updateCounts();
    }

    function connect() {
        if (stopped) return;
        const params = { query, limit: 100 };
        params.start = lastNs ? (BigInt(lastNs) + 1n).toString() : msToNs(Date.now());
        const url = tailUrl(params);
        setStatus('connecting', attempt ? `Reconnecting (attempt ${attempt + 1})…` : 'Connecting…');
        let opened = false;
        const protocols = tailProtocols();
        try {
            ws = new WebSocket(url, protocols);
        } catch (e) {
            fail(url, e.message, protocols.length > 0);
            return;
        }
        ws.onopen = () => {
            opened = everOpened = true;
            attempt = 0;
            panel.dataset.protocol = ws.protocol;
            replace(msg);
            setStatus('live', paused ? 'Paused' : 'Live');
        };
        ws.onmessage = (ev) => receive(ev.data);
        ws.onclose = (ev) => {
            ws = null;
            if (stopped) return;
            if (!opened) fail(url, null, protocols.length > 0);
            else retry(ev.reason ? `connection closed: ${ev.reason}` : 'connection closed');
        };
    }

    async function fail(url, why, offered) {
        // The browser does not say why a handshake failed: ask the endpoint over HTTP,
        // with the credentials as headers. When that GET passes authentication and is
        // only refused for not being a WebSocket, the handshake failed because the
        // server did not answer the subprotocol: it cannot take credentials this way.
        const p = await probe(url);
        if (stopped) return;
        if (offered && !everOpened && p.status === 400 && /websocket/i.test(p.text)) {
            setStatus('error', 'Not available');
            replace(
                msg,
                notice(
                    'error',
                    `Live tail cannot send the token or tenant from Settings to this server: it does not answer the ${TAIL_PROTOCOL} WebSocket subprotocol that carries them. ` +
                        'Upgrade Strata, or clear the token and tenant in Settings to follow the default tenant.',
                ),
            );
            return;
        }
        const permanent = !everOpened && (p.status === 501 || p.status === 404 || p.status === 401 || p.status === 403);
        const text = `Live tail is not available: ${p.text || why || 'the connection failed'}` + (p.status ? ` (HTTP ${p.status})` : '');
        if (permanent) {
            setStatus('error', 'Not available');
            replace(msg, notice('error', text));
            return;
        }
        retry(text);
    }

    function retry(why) {
        if (stopped) return;
        if (attempt >= RETRY_DELAYS_MS.length) {
            setStatus('error', 'Disconnected');
            replace(
                msg,
                notice('error', why + '. ', h('button.btn.btn-small', { type: 'button', onclick: () => { attempt = 0; connect(); } }, 'Reconnect')),
            );
            return;
        }
        const d = RETRY_DELAYS_MS[attempt++];
        setStatus('connecting', `Disconnected; retrying in ${d / 1000}s`);
        replace(msg, notice('warn', why));
        retryTimer = setTimeout(connect, d);
    }

    function togglePause() {
        paused = !paused;
        pauseBtn.textContent = paused ? 'Resume' : 'Pause';
        pauseBtn.classList.toggle('btn-primary', paused);
        if (ws && ws.readyState === WebSocket.OPEN) setStatus('live', paused ? 'Paused' : 'Live');
        if (!paused) {
            const h2 = held;
            held = [];
            show(h2);
        }
        updateCounts();
    }

    function setCap(n) {
        cap = n;
        settings.tailCap = n;
        trim();
        updateCounts();
    }

    function clear() {
        rows.replaceChildren();
        shown = 0;
        held = [];
        waiting.hidden = false;
        updateCounts();
    }

    updateCounts();
    connect();
    return {
        stop() {
            stopped = true;
            clearTimeout(retryTimer);
            if (ws) ws.close(1000, 'tail stopped');
            ws = null;
        },
    };
}

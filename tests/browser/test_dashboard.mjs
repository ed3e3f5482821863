// test_dashboard.mjs - the dashboard in Chromium against real strata processes.
//
// Most tests share one server holding the shop's lines (fixtures.mjs shopServer)
// and write only into tenants or labels of their own; a test that needs flags of
// its own (--web-listen-addr) starts its own server. pending.mjs holds the tests
// that need server work not merged yet.
import { acItemsAre, pushShop, runQuery, shopQuery, shopServer } from './fixtures.mjs';
import { check, eq, freePort, nowNs, test, waitUntil } from './harness.mjs';

const exploreUrl = (s, query, extra = '') => s.url + '#/explore?query=' + encodeURIComponent(query) + extra;

// ---- loading, log queries, volume ----

test('page_loads_with_embedded_assets', async (env) => {
    const s = await shopServer(env);
    const page = await env.page();
    const assets = [];
    page.on('response', (r) => {
        if (r.url().includes('/assets/')) assets.push({ url: r.url(), status: r.status(), cache: r.headers()['cache-control'] || '' });
    });
    const res = await page.goto(s.url);
    eq(res.status(), 200, 'index status');
    eq(await page.title(), 'Explore · Strata', 'title');
    await page.locator('.query-input').waitFor();
    for (const name of ['Explore', 'Labels', 'Status']) check(await page.getByRole('link', { name }).isVisible(), `nav link ${name}`);
    check(await page.locator('.notice-info').isVisible(), 'the empty-query hint');
    eq(assets.length, 2, 'one script and one stylesheet');
    for (const a of assets) {
        eq(a.status, 200, a.url);
        check(a.cache.includes('immutable'), `${a.url} is cached for good (${a.cache})`);
    }
    // The page is revalidated: a conditional GET with its ETag gets 304.
    const first = await s.get('/');
    const again = await s.get('/', null, { 'If-None-Match': first.headers.get('etag') });
    eq(again.status, 304, 'conditional GET');
    eq((await s.get('/nope.js')).status, 404, 'unknown path');
});

test('log_query_returns_lines_server_volume_and_details', async (env) => {
    const { page } = await shopQuery(env, '{app="shop"}');
    eq(await page.locator('.log-row').count(), 36, 'rows');
    // Newest first: the first row is the newest info line.
    check((await page.locator('.log-row .log-line').first().textContent()).startsWith('order 1000 placed'), 'newest first');
    eq(await page.locator('.log-row.lvl-error').count(), 12, 'error rows coloured');
    eq(await page.locator('.log-row.lvl-warn').count(), 12, 'warn level read from the line');
    // The volume is the server's metric query, stacked by level (no fallback note).
    await page.locator('.volume-panel canvas').first().waitFor();
    eq(await page.locator('.volume-panel .panel-note').textContent(), '', 'no fallback note: the server counted');
    const legend = await page.locator('.volume-panel .u-legend').textContent();
    for (const l of ['error', 'warn', 'info']) check(legend.includes(l), `volume legend has ${l}: ${legend}`);
    check((await page.locator('.logs-panel .stats').textContent()).includes('36 returned'), 'query stats');
    // Expand a dev line: labels and structured metadata.
    const dev = page.locator('.log-row.lvl-warn').first();
    await dev.locator('.log-summary').click();
    const details = await dev.locator('.log-details').textContent();
    for (const want of ['Labels', 'env', 'dev', 'Structured metadata', 'trace_id', 'trace-0'])
        check(details.includes(want), `details show ${want}: ${details}`);
    // The URL holds the query and range: a reload shows the same lines.
    const hash = await page.evaluate(() => location.hash);
    check(hash.startsWith('#/explore?') && decodeURIComponent(hash).includes('query={app="shop"}'), `url state ${hash}`);
    await page.reload();
    await page.locator('.log-row').first().waitFor();
    eq(await page.locator('.log-row').count(), 36, 'rows after reload');
    await page.locator('.volume-panel canvas').first().waitFor();
    await env.screenshot(page, 'explore.png');
});

test('line_filter_matches_are_highlighted', async (env) => {
    const { page } = await shopQuery(env, '{app="shop"} |= "order" |~ "fail(ed)?"');
    eq(await page.locator('.log-row').count(), 12, 'rows');
    const marks = await page.locator('.log-row').first().locator('mark').allTextContents();
    eq(marks, ['order', 'failed'], 'both filters highlighted');
});

test('bad_query_shows_the_parser_message', async (env) => {
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(s.url);
    const q = '{app="shop"';
    await runQuery(page, q);
    const box = page.locator('.query-error-text');
    await box.waitFor();
    const want = await s.get('/loki/api/v1/query_range', { query: q });
    eq(want.status, 400, 'the API rejects it');
    eq(await box.textContent(), want.text.trim(), 'the parser message, verbatim');
    // The caret points at the column the parser names.
    const m = /col (\d+)/.exec(want.text);
    check(m, `the message names a column: ${want.text}`);
    const caret = (await page.locator('.query-error .caret').textContent()).split('\n')[1];
    eq(caret.indexOf('^') + 1, Number(m[1]), 'caret column');
    // Fixing the query clears the message.
    await runQuery(page, '{app="shop"}');
    await page.locator('.logs-panel').waitFor();
    check(await page.locator('.query-error').isHidden(), 'error cleared');
});

test('histogram_drag_narrows_the_range_and_reruns', async (env) => {
    const { page } = await shopQuery(env, '{app="shop", level="error"}');
    eq(await page.locator('.log-row').count(), 12, 'rows before');
    const over = page.locator('.volume-panel .u-over');
    await over.waitFor();
    const box = await over.boundingBox();
    // Drag over the newest half of the hour: about half of the lines remain.
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 });
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await waitUntil(async () => /from=\d+/.test(await page.evaluate(() => location.hash)), 5000, 'absolute range in the URL');
    const hash = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
    const span = Number(hash.get('to')) - Number(hash.get('from'));
    check(span > 20 * 60000 && span < 40 * 60000, `selected about 30 minutes (${span} ms)`);
    await waitUntil(async () => {
        const n = await page.locator('.log-row').count();
        return n > 0 && n < 12;
    }, 10000, 'fewer rows after the drag');
    check(!(await page.locator('.tp-label').textContent()).startsWith('Last'), 'the picker shows an absolute range');
    // Back returns to the hour.
    await page.goBack();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 12, 10000, 'rows after Back');
});

test('time_picker_presets_and_absolute_range', async (env) => {
    const s = await shopServer(env);
    await pushShop(s, 't-picker'); // now, so that "the last 5 minutes" holds one line
    const page = await env.page({ tenant: 't-picker' });
    await page.goto(exploreUrl(s, '{app="shop", level="info"}', '&from=now-1h&to=now'));
    await page.locator('.log-row').first().waitFor();
    eq(await page.locator('.log-row').count(), 12, 'last hour');
    await page.locator('.tp-button').click();
    await page.locator('.tp-preset[data-preset="5m"]').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 1, 10000, 'one line in the last 5 minutes');
    check((await page.evaluate(() => location.hash)).includes('from=now-5m'), 'preset in the URL');
    // Absolute: from 20.5 to 9.5 minutes ago holds 3 lines (at 10, 14 and 18 minutes).
    await page.locator('.tp-button').click();
    const fmt = (ms) => {
        const d = new Date(ms);
        const p = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    const now = Date.now();
    await page.locator('.tp-abs input').nth(0).fill(fmt(now - 20.5 * 60000));
    await page.locator('.tp-abs input').nth(1).fill(fmt(now - 9.5 * 60000));
    await page.locator('.tp-abs .btn-primary').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 3, 10000, 'three lines in the absolute range');
    await page.locator('.refresh-btn').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 3, 10000, 'refresh keeps an absolute range');
});

test('load_older_pages_through_the_range', async (env) => {
    const s = await shopServer(env);
    const base = Date.now() - 30 * 60000;
    const values = Array.from({ length: 250 }, (_, i) => [(BigInt(base + i * 5000) * 1000000n).toString(), `line ${String(i).padStart(3, '0')}`]);
    await s.push([{ stream: { app: 'pager' }, values }], 't-pager');
    const page = await env.page({ tenant: 't-pager' });
    await page.goto(exploreUrl(s, '{app="pager"}', '&limit=100'));
    await page.locator('.log-row').first().waitFor();
    eq(await page.locator('.log-row').count(), 100, 'first page');
    await page.locator('.more-btn').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 200, 10000, 'second page');
    await page.locator('.more-btn').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 250, 10000, 'third page');
    await page.locator('.more .end').waitFor();
    const lines = await page.locator('.log-line').allTextContents();
    eq(lines[0], 'line 249', 'newest first');
    eq(lines[249], 'line 000', 'oldest last');
    eq(new Set(lines).size, 250, 'no line twice');
    // Oldest first pages forward.
    await page.locator('select[aria-label="Order"]').selectOption('forward');
    await waitUntil(async () => (await page.locator('.log-line').first().textContent()) === 'line 000', 10000, 'forward order');
    await page.locator('.more-btn').click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 200, 10000, 'forward second page');
});

test('metric_query_draws_series_with_a_legend', async (env) => {
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(s.url);
    await runQuery(page, 'sum by (level) (count_over_time({app="shop", env="prod"}[5m]))');
    await page.locator('.metric-panel canvas').first().waitFor();
    eq(await page.locator('.metric-panel .panel-title').textContent(), '2 series', 'series count');
    const legend = await page.locator('.metric-panel .u-legend').textContent();
    for (const l of ['{level="error"}', '{level="info"}']) check(legend.includes(l), `legend has ${l}: ${legend}`);
});

// ---- autocomplete ----

test('autocomplete_offers_a_pushed_label_value', async (env) => {
    // Names and values come from the labels API: nothing has been queried yet.
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(s.url);
    const input = page.locator('.query-input');
    await input.pressSequentially('{en');
    await acItemsAre(page, ['env'], 'label names from /labels');
    eq(await page.locator('.ac-title').count(), 0, 'from the API, not from earlier results');
    // An edit replaces the list at once: the names shown for "{en" must never be
    // on screen (nor taken by Tab) once the text is "{env="d", even while the
    // values are being fetched. (The list used to stay until the new answer came.)
    await input.pressSequentially('v="d');
    const stale = await page.locator('.ac-item').allTextContents();
    check(!stale.includes('env'), `no stale suggestion after the edit: ${JSON.stringify(stale)}`);
    await acItemsAre(page, ['dev', 'prod'], 'prefix match first, then substring');
    await input.press('Tab');
    eq(await input.inputValue(), '{env="dev"', 'value inserted and quoted');
    // Names after a complete matcher: those of the streams it selects (no "level":
    // the dev stream has none).
    await input.pressSequentially(', ');
    await page.locator('.ac-item').first().waitFor();
    const names = await page.locator('.ac-item').allTextContents();
    for (const n of ['app', 'env']) check(names.includes(n), `label name ${n} offered: ${names}`);
    check(!names.includes('level'), `only the names of env="dev" streams: ${names}`);
    await input.press('ArrowDown');
    await input.press('Enter');
    eq(await input.inputValue(), '{env="dev", app=""', 'Enter takes the chosen name');
    await acItemsAre(page, ['shop'], 'then the values of app among env="dev" streams');
    await input.press('Tab');
    await input.pressSequentially('}');
    await input.press('Enter');
    await waitUntil(async () => (await page.locator('.log-row').count()) === 12, 10000, 'the completed query runs');
});

// ---- live tail ----

test('live_tail_shows_a_pushed_line', async (env) => {
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(exploreUrl(s, '{app="checkout"}', '&live=1'));
    const panel = page.locator('.tail-panel');
    await waitUntil(async () => (await panel.getAttribute('data-state')) === 'live', 10000, 'the socket open');
    eq(await panel.getAttribute('data-protocol'), '', 'no subprotocol without a token or tenant');
    const token = 'pushed-' + Math.random().toString(36).slice(2);
    const line = `level=info msg="cart opened" id=${token}`;
    await s.push([{ stream: { app: 'checkout', level: 'info' }, values: [[nowNs(), line]] }]);
    await waitUntil(async () => (await page.locator('.tail-rows .log-line').allTextContents()).includes(line), 5000, 'the line within 5 s');
    // Pause holds new lines back; Resume shows them.
    await page.getByRole('button', { name: 'Pause' }).click();
    await s.push([{ stream: { app: 'checkout', level: 'warn' }, values: [[nowNs(), 'level=warn msg="payment slow" took=2.4s']] }]);
    await waitUntil(async () => (await page.locator('.live-counts').textContent()).includes('1 waiting'), 5000, 'held while paused');
    eq(await page.locator('.tail-rows .log-row').count(), 1, 'not shown while paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    eq(await page.locator('.tail-rows .log-row').count(), 2, 'shown after resume');
    const steps = [
        ['info', 'msg="address validated" took=31ms'],
        ['debug', 'msg="shipping quote" carrier=dhl took=112ms'],
        ['info', 'msg="payment authorised" amount=42.50 currency=EUR'],
        ['error', 'msg="stock reservation failed" sku=A-1137 err="timeout"'],
        ['warn', 'msg="retrying reservation" sku=A-1137 attempt=2'],
        ['info', 'msg="stock reserved" sku=A-1137'],
        ['info', 'msg="order placed" order=4711 items=3'],
        ['info', 'msg="confirmation mail queued" order=4711'],
    ];
    for (const [level, msg] of steps)
        await s.push([{ stream: { app: 'checkout', level }, values: [[nowNs(), `level=${level} ${msg}`]] }]);
    await waitUntil(async () => (await page.locator('.tail-rows .log-row').count()) === 10, 5000, 'ten lines');
    await env.screenshot(page, 'live-tail.png');
});

test('live_tail_with_a_tenant_follows_it_or_says_it_cannot', async (env) => {
    // The tenant travels as a WebSocket subprotocol (strata.tenant.<base64url>).
    // A server that takes it answers strata.v1 and the tail follows that tenant;
    // one that does not (before the security work's tail support) fails the
    // handshake, and the page must say so rather than follow another tenant.
    const s = await shopServer(env);
    const page = await env.page({ tenant: 't-tail' });
    await page.goto(exploreUrl(s, '{app="tenant-tail"}', '&live=1'));
    const panel = page.locator('.tail-panel');
    const state = await waitUntil(async () => {
        const st = await panel.getAttribute('data-state');
        return st === 'live' || st === 'error' ? st : null;
    }, 10000, 'the socket open or refused');
    if (state === 'error') {
        const msg = await page.locator('.live-msg').textContent();
        check(msg.includes('cannot send the token or tenant'), `explained: ${msg}`);
        return;
    }
    eq(await panel.getAttribute('data-protocol'), 'strata.v1', 'the server took the subprotocols');
    await s.push([{ stream: { app: 'tenant-tail' }, values: [[nowNs(), 'for the default tenant']] }]);
    await s.push([{ stream: { app: 'tenant-tail' }, values: [[nowNs(), 'for t-tail']] }], 't-tail');
    await waitUntil(async () => (await page.locator('.tail-rows .log-line').allTextContents()).includes('for t-tail'), 5000, "the tenant's line");
    eq(await page.locator('.tail-rows .log-line').allTextContents(), ['for t-tail'], "only the tenant's line");
});

// ---- LogsGO, Labels, Status ----

test('logsgo_series_view_shows_counts', async (env) => {
    const s = await shopServer(env);
    // LogsGO entries are streams {service, level, custom labels} with line = message.
    const t = Math.floor(Date.now() / 1000) - 40 * 60;
    const ns = (sec) => (BigInt(sec) * 1000000000n).toString();
    await s.push(
        [
            {
                stream: { service: 'api', level: 'warn', region: 'eu' },
                values: [[ns(t), 'disk slow'], [ns(t + 900), 'disk slow'], [ns(t + 1800), 'disk slow']],
            },
            { stream: { service: 'web', level: 'info' }, values: [[ns(t), 'started']] },
        ],
        't-logsgo',
    );
    const page = await env.page({ tenant: 't-logsgo' });
    // Steps at t, t+15m, t+30m: the counts are 1, 2, 3 (seeds.md 1.7).
    await page.goto(
        s.url + '#/explore?lang=logsgoql&query=' + encodeURIComponent('service=api & level=warn') + `&from=${t * 1000}&to=${(t + 1800) * 1000}&res=15m`,
    );
    await page.locator('.series-table').waitFor();
    const row = page.locator('.series-table tbody tr');
    eq(await row.count(), 1, 'one series');
    const cells = await row.first().locator('td').allTextContents();
    eq(cells.slice(0, 4), ['api', 'warn', 'region=eu', 'disk slow'], 'Service | Level | Labels | Message');
    const counts = (await row.first().locator('td.points div').allTextContents()).map((x) => x.split(' : ')[0]);
    eq(counts, ['1', '2', '3'], 'cumulative counts at each step');
    await page.getByRole('tab', { name: 'Graph' }).click();
    await page.locator('.series-card canvas').first().waitFor();
    check((await page.locator('.series-card .badge').textContent()).includes('peak 3'), 'peak badge');
    // Instant: one point per series, the latest count.
    await page.locator('.opts input[type=checkbox]').check();
    await page.locator('.series-table').waitFor();
    eq((await page.locator('.series-table td.points div').allTextContents()).map((x) => x.split(' : ')[0]), ['3'], 'instant count');
});

test('labels_browser_builds_a_selector', async (env) => {
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(s.url + '#/labels');
    await page.locator('.names .pick', { hasText: 'env' }).click();
    await page.locator('.values .pick', { hasText: 'dev' }).click();
    await page.locator('.values .pick', { hasText: 'prod' }).click();
    eq(await page.locator('.selector').textContent(), '{env=~"dev|prod"}', 'selector');
    await page.locator('.values .pick', { hasText: 'prod' }).click();
    eq(await page.locator('.selector').textContent(), '{env="dev"}', 'one value');
    await page.getByRole('link', { name: 'Show logs' }).click();
    await waitUntil(async () => (await page.locator('.log-row').count()) === 12, 10000, 'the dev lines in Explore');
});

test('status_page_shows_build_tiers_and_config', async (env) => {
    const s = await shopServer(env);
    const st = (await s.get('/api/v1/status')).json();
    eq(st.tiers[0].name, 'head', 'first tier');
    const entries = st.tiers.reduce((n, t) => n + (t.entries || 0), 0);
    check(entries >= 36, `the shop's entries in the tiers: ${entries}`);
    const page = await env.page();
    await page.goto(s.url + '#/status');
    await page.locator('.tiers-table').waitFor();
    const build = await page.locator('.build-card').textContent();
    check(build.includes(st.build.version) && build.includes(st.build.revision), `build info: ${build}`);
    const tiers = await page.locator('.tiers-table').textContent();
    check(tiers.includes('head') && tiers.includes(String(st.tiers[0].entries)), `tiers: ${tiers}`);
    check(tiers.includes('on disk') && tiers.includes('parts'), `parts and bytes on disk: ${tiers}`);
    // Auth is off: the head, WAL and upkeep totals are shown.
    const wal = await page.locator('.wal-panel').textContent();
    check(wal.includes('segments') && wal.includes('fsyncs'), `WAL: ${wal}`);
    check((await page.locator('.head-panel').textContent()).includes('tenants'), 'head totals');
    // The harness sets --data-dir on the command line: its value and source show.
    const row = page.locator('tr[data-option="data-dir"]');
    check((await row.textContent()).includes(s.dataDir), 'effective value');
    eq(await row.locator('.src').textContent(), 'flag', 'source');
    // Secrets are masked by the server: no option marked secret shows its value.
    for (const o of st.config) if (o.secret && o.value) eq(o.value, '********', `${o.name} masked`);
    await page.locator('.config-tools input[type=search]').fill('log.level');
    eq(await page.locator('.config-table tbody tr[data-option]').count(), 1, 'filter');
    await page.locator('.config-tools input[type=search]').fill('');
    await env.screenshot(page, 'status.png', { fullPage: false });
});

// ---- settings, themes, listeners ----

test('token_and_tenant_are_kept_and_sent', async (env) => {
    const s = await shopServer(env);
    await pushShop(s, 'team-a', 'teamshop');
    const page = await env.page();
    await page.goto(s.url);
    const seen = [];
    page.on('request', (r) => {
        if (r.url().includes('/loki/api/v1/query_range')) seen.push(r.headers());
    });
    await page.locator('.settings-btn').click();
    await page.locator('dialog.settings input[aria-label="Token"]').fill('tok-123');
    await page.locator('dialog.settings input[aria-label="Tenant"]').fill('team-a');
    await page.locator('dialog.settings .save-settings').click();
    await runQuery(page, '{app="teamshop"}');
    await waitUntil(async () => (await page.locator('.log-row').count()) === 36, 10000, "team-a's lines");
    check(seen.length > 0, 'query requests seen');
    eq(seen[0].authorization, 'Bearer tok-123', 'Authorization header');
    eq(seen[0]['x-scope-orgid'], 'team-a', 'tenant header');
    // Kept in localStorage across a reload; the tenant shows in the header.
    await page.reload();
    await page.locator('.log-row').first().waitFor();
    eq(await page.locator('.tenant-badge').textContent(), 'tenant: team-a', 'tenant badge');
    eq(await page.evaluate(() => localStorage.getItem('strata.token')), 'tok-123', 'token stored');
    // The default tenant sees nothing.
    await page.evaluate(() => localStorage.removeItem('strata.tenant'));
    await page.reload();
    await page.locator('.logs-panel .empty').waitFor();
});

test('themes_and_a_narrow_window', async (env) => {
    const s = await shopServer(env);
    const page = await env.page({ viewport: { width: 390, height: 800 } });
    await page.goto(exploreUrl(s, '{app="shop"}'));
    await page.locator('.log-row').first().waitFor();
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'light by default here');
    await page.locator('.theme-btn').click();
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'dark after the toggle');
    await page.reload();
    await page.locator('.log-row').first().waitFor();
    eq(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'theme kept');
    // Nothing wider than the window; the run button and the picker are on screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no horizontal scroll (${overflow}px too wide)`);
    for (const sel of ['.run-btn', '.tp-button', '.query-input']) {
        const b = await page.locator(sel).boundingBox();
        check(b && b.x >= 0 && b.x + b.width <= 390, `${sel} within the window`);
    }
    await page.locator('.volume-panel canvas').first().waitFor();
    await env.screenshot(page, 'explore-narrow-dark.png');
});

test('web_listen_addr_serves_the_dashboard_and_its_apis', async (env) => {
    const webPort = await freePort();
    const s = await env.strata([`--web-listen-addr=127.0.0.1:${webPort}`]);
    await pushShop(s);
    const page = await env.page();
    const web = `http://127.0.0.1:${webPort}/`;
    await page.goto(web + '#/explore?query=' + encodeURIComponent('{app="shop"}'));
    await waitUntil(async () => (await page.locator('.log-row').count()) === 36, 10000, 'lines through the web listener');
    const push = await fetch(web + 'loki/api/v1/push', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    eq(push.status, 404, 'no push on the web listener');
});

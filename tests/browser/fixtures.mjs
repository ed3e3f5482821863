// fixtures.mjs - data and steps shared by the browser tests.
import { eq, nowNs, waitUntil } from './harness.mjs';

/**
 * 3 streams of a shop, 12 lines each, one every 4 minutes up to 2 minutes ago,
 * into `tenant` (the default tenant when null) under the label app=`app`.
 */
export async function pushShop(s, tenant = null, app = 'shop') {
    const vals = (level, fmt, meta) =>
        Array.from({ length: 12 }, (_, i) => {
            const v = [nowNs(-(2 + i * 4) * 60000 - { info: 0, warn: 500, error: 1000 }[level]), fmt(i)];
            if (meta) v.push(meta(i));
            return v;
        });
    await s.push(
        [
            { stream: { app, env: 'prod', level: 'info' }, values: vals('info', (i) => `order ${1000 + i} placed by user=alice`) },
            { stream: { app, env: 'prod', level: 'error' }, values: vals('error', (i) => `order ${2000 + i} failed: payment declined`) },
            {
                stream: { app, env: 'dev' },
                values: vals('warn', (i) => `level=warn msg="slow checkout" took=${i + 1}s`, (i) => ({ trace_id: 'trace-' + i })),
            },
        ],
        tenant,
    );
}

/**
 * The run's shared server: the shop's 36 lines in the default tenant, pushed
 * once when the first test asks. Tests read them and never write into the
 * default tenant under app="shop" or the label env (their counts are exact);
 * what a test writes goes into its own tenant or under labels of its own.
 */
export function shopServer(env) {
    return env.shared('shop', (s) => pushShop(s));
}

/** Type q into the query editor and press Enter. */
export async function runQuery(page, q) {
    const input = page.locator('.query-input');
    await input.fill(q);
    await input.press('Enter');
}

/**
 * The shared shop server and a page that has run `query` on it and shows its
 * first row. Returns {s, page}.
 */
export async function shopQuery(env, query) {
    const s = await shopServer(env);
    const page = await env.page();
    await page.goto(s.url);
    await runQuery(page, query);
    await page.locator('.log-row').first().waitFor();
    return { s, page };
}

/** The page's autocomplete items once they equal `want` (bounded wait). */
export async function acItemsAre(page, want, what) {
    let got;
    await waitUntil(
        async () => {
            got = await page.locator('.ac-item').allTextContents();
            return JSON.stringify(got) === JSON.stringify(want);
        },
        5000,
        what,
    ).catch(() => eq(got, want, what));
}

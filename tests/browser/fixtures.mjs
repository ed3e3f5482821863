// fixtures.mjs - data and steps shared by the browser tests.
import { nowNs } from './harness.mjs';

/** 3 streams of a shop, 12 lines each, one every 4 minutes up to 2 minutes ago. */
export async function pushShop(s, tenant) {
    const vals = (level, fmt, meta) =>
        Array.from({ length: 12 }, (_, i) => {
            const v = [nowNs(-(2 + i * 4) * 60000 - { info: 0, warn: 500, error: 1000 }[level]), fmt(i)];
            if (meta) v.push(meta(i));
            return v;
        });
    await s.push(
        [
            { stream: { app: 'shop', env: 'prod', level: 'info' }, values: vals('info', (i) => `order ${1000 + i} placed by user=alice`) },
            { stream: { app: 'shop', env: 'prod', level: 'error' }, values: vals('error', (i) => `order ${2000 + i} failed: payment declined`) },
            {
                stream: { app: 'shop', env: 'dev' },
                values: vals('warn', (i) => `level=warn msg="slow checkout" took=${i + 1}s`, (i) => ({ trace_id: 'trace-' + i })),
            },
        ],
        tenant,
    );
}

/** Type q into the query editor and press Enter. */
export async function runQuery(page, q) {
    const input = page.locator('.query-input');
    await input.fill(q);
    await input.press('Enter');
}

/**
 * A strata holding the shop's lines and a page that has run `query` on it and
 * shows its first row. Returns {s, page}.
 */
export async function shopQuery(env, query) {
    const s = await env.strata();
    await pushShop(s);
    const page = await env.page();
    await page.goto(s.url);
    await runQuery(page, query);
    await page.locator('.log-row').first().waitFor();
    return { s, page };
}

// pending.mjs - dashboard tests that need server work not merged yet. Run them with
// node tests/browser/run.mjs BUILD --pending; move each into test_dashboard.mjs once
// what it needs is on main.
//
// live_tail_with_auth_tokens needs the tail endpoint to take credentials from
// WebSocket subprotocols (branch security2, issue [9/10] part 2): the page offers
// strata.v1, strata.bearer.<base64url(token)> and strata.tenant.<base64url(tenant)>;
// the server takes them as Authorization and X-Scope-OrgID and answers strata.v1.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { check, eq, nowNs, test, waitUntil } from './harness.mjs';

test('live_tail_with_auth_tokens', async (env) => {
    // The tokens file (docs/SECURITY.md): a reader and a writer of two tenants.
    const reader = 'reader-' + 'r'.repeat(24);
    const writer = 'writer-' + 'w'.repeat(24);
    const file = join(env.scratch, 'tokens.yaml');
    writeFileSync(
        file,
        [
            'tokens:',
            '  - name: dashboard',
            `    token: "${reader}"`,
            '    tenants: [shop, bank]',
            '    role: read',
            '  - name: agent',
            `    token: "${writer}"`,
            '    tenants: [shop, bank]',
            '    role: write',
            '',
        ].join('\n'),
        { mode: 0o600 },
    );
    const s = await env.strata(['--auth.mode=tokens', `--auth.tokens-file=${file}`]);
    const query = encodeURIComponent('{app="vault"}');

    // The reader's token and the tenant bank: the tail follows bank only.
    const page = await env.page({ token: reader, tenant: 'bank' });
    await page.goto(s.url + `#/explore?query=${query}&live=1`);
    const panel = page.locator('.tail-panel');
    await waitUntil(async () => (await panel.getAttribute('data-state')) === 'live', 10000, 'the socket open with the token');
    eq(await panel.getAttribute('data-protocol'), 'strata.v1', 'the server answered the subprotocol');
    await s.push([{ stream: { app: 'vault' }, values: [[nowNs(), 'for shop']] }], 'shop', writer);
    await s.push([{ stream: { app: 'vault' }, values: [[nowNs(), 'for bank']] }], 'bank', writer);
    await waitUntil(async () => (await page.locator('.tail-rows .log-line').allTextContents()).includes('for bank'), 5000, "bank's line");
    eq(await page.locator('.tail-rows .log-line').allTextContents(), ['for bank'], "only bank's line");

    // Without a token: refused, and the page says why.
    const anon = await env.page();
    await anon.goto(s.url + `#/explore?query=${query}&live=1`);
    await waitUntil(async () => (await anon.locator('.tail-panel').getAttribute('data-state')) === 'error', 10000, 'refused without a token');
    check((await anon.locator('.live-msg').textContent()).includes('HTTP 401'), 'a 401 is explained');

    // A token that is not in the file: refused as well.
    const wrong = await env.page({ token: 'not-a-listed-token-0000' });
    await wrong.goto(s.url + `#/explore?query=${query}&live=1`);
    await waitUntil(async () => (await wrong.locator('.tail-panel').getAttribute('data-state')) === 'error', 10000, 'refused with a wrong token');
    check((await wrong.locator('.live-msg').textContent()).includes('HTTP 401'), 'a 401 is explained');

    // A writer's token cannot read: 403.
    const agent = await env.page({ token: writer });
    await agent.goto(s.url + `#/explore?query=${query}&live=1`);
    await waitUntil(async () => (await agent.locator('.tail-panel').getAttribute('data-state')) === 'error', 10000, 'refused for a writer');
    check((await agent.locator('.live-msg').textContent()).includes('HTTP 403'), 'a 403 is explained');
});

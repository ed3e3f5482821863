// node tests/browser/run.mjs BUILD_DIR [filter] [--pending]
//
// Runs the dashboard's tests: the pure-JS unit tests of web/src, then the
// browser tests (one Chromium for all, a fresh context per test, a strata per
// test or one shared by several: harness.mjs). Ends with "N passed, N failed";
// the exit code is 1 when anything failed.
//
// --pending (or STRATA_BROWSER_PENDING=1) adds pending.mjs: the tests that need
// server work not merged yet (the tail taking credentials from subprotocols).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { REPO, runAll, stopShared } from './harness.mjs';

const args = process.argv.slice(2);
const pending = args.includes('--pending') || process.env.STRATA_BROWSER_PENDING === '1';
const [build = 'build-san', filter = ''] = args.filter((a) => a !== '--pending');
const binary = resolve(REPO, build, 'strata');

const FILES = ['test_units.mjs', 'test_dashboard.mjs', ...(pending ? ['pending.mjs'] : [])];
const CHROMIUM = process.env.STRATA_CHROMIUM || '/usr/bin/chromium';

async function main() {
    let passed = 0;
    let failed = 0;
    if (!existsSync(binary)) {
        console.log(`FAIL no binary at ${binary}`);
        console.log('0 passed, 1 failed');
        return 1;
    }
    let chromium;
    try {
        ({ chromium } = await import('playwright-core'));
    } catch (e) {
        console.log(`FAIL playwright-core is not installed (scripts/bootstrap test runs npm ci): ${e.message}`);
        console.log('0 passed, 1 failed');
        return 1;
    }
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
        headless: true,
    });
    try {
        for (const f of FILES) {
            await import(join(REPO, 'tests/browser', f));
            const r = await runAll(binary, browser, filter, f.replace(/\.mjs$/, ''));
            passed += r.passed;
            failed += r.failed;
        }
    } finally {
        const r = await stopShared();
        passed += r.passed;
        failed += r.failed;
        await browser.close();
    }
    console.log(`${passed} passed, ${failed} failed`);
    return failed ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.log(e.stack || String(e));
        console.log('0 passed, 1 failed');
        process.exit(1);
    },
);

// harness.mjs - the dashboard's browser tests: real strata processes, Debian's Chromium.
//
// A test is an async function (env) => {...} registered with test(name, fn).
// env.strata(args) starts the binary on a free loopback port with its data
// in the test's scratch directory and waits for /ready; env.page(opts)
// opens a fresh browser context (its own localStorage). When the test ends
// every server it started is stopped by its pid with SIGTERM and must exit 0
// with no sanitizer report in its log; an uncaught exception in a page fails
// the test. Every wait is bounded.
//
// env.shared(name, setup) is a server that several tests use, so that they do
// not each pay for a start and a stop: started (and given its data by setup)
// by the first test that asks, checked after every test that used it (still
// running, no sanitizer report: else that test fails), and stopped at the end
// of the run by stopShared(), which reports its clean exit as one more test.
// Tests on a shared server read its common data and write only data of their
// own (their own tenant or labels), so that the order of tests does not matter.
//
// Screenshots go to the scratch directory, or to docs/img/ when the
// environment has STRATA_UPDATE_SCREENSHOTS=1 (they are committed, so a
// normal test run leaves the tree clean).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SANITIZER_MARKERS = [
    'ERROR: AddressSanitizer',
    'ERROR: LeakSanitizer',
    'runtime error:',
    'ERROR: ThreadSanitizer',
    'WARNING: ThreadSanitizer',
];

export class TestFailure extends Error {}

export function check(cond, msg = 'check failed') {
    if (!cond) throw new TestFailure(msg);
}

export function eq(got, want, what = 'value') {
    const g = JSON.stringify(got);
    const w = JSON.stringify(want);
    if (g !== w) throw new TestFailure(`${what}: got ${g}, want ${w}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns a truthy value, for at most timeoutMs. */
export async function waitUntil(fn, timeoutMs = 10000, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e.message;
        }
        await sleep(50);
    }
    throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const { port } = srv.address();
    srv.close();
    await once(srv, 'close');
    return port;
}

/** Now in nanoseconds, as the decimal string Loki's API wants. */
export function nowNs(offsetMs = 0) {
    return (BigInt(Date.now() + Math.round(offsetMs)) * 1000000n).toString();
}

export class Strata {
    constructor(env, args = [], name = 'strata') {
        this.env = env;
        this.name = name;
        this.args = args;
        this.dataDir = mkdtempSync(join(env.scratch, name + '-data-'));
    }

    get url() {
        return `http://127.0.0.1:${this.port}/`;
    }

    async start() {
        this.port = await freePort();
        this.logPath = join(this.env.scratch, `${this.name}-${this.port}.log`);
        const log = createWriteStream(this.logPath, { flags: 'a' });
        await once(log, 'open');
        const env = {
            ...process.env,
            ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=0',
            UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1',
        };
        this.proc = spawn(
            this.env.binary,
            // No gRPC listener (the dashboard does not use it): its default port 9095 is
            // fixed, and servers of this run and of other runs on the machine would fight over it.
            [`--http-listen-addr=127.0.0.1:${this.port}`, '--grpc-listen-addr=', `--data-dir=${this.dataDir}`, ...this.args],
            { stdio: ['ignore', log, log], env },
        );
        this.exited = once(this.proc, 'exit');
        await waitUntil(
            async () => {
                if (this.proc.exitCode !== null)
                    throw new TestFailure(`${this.name} exited with ${this.proc.exitCode} during start:\n${this.logTail()}`);
                const r = await fetch(this.url + 'ready').catch(() => null);
                return r && r.status === 200;
            },
            20000,
            `${this.name} /ready`,
        ).catch((e) => {
            throw e instanceof TestFailure && this.proc.exitCode !== null
                ? new TestFailure(`${this.name} exited with ${this.proc.exitCode}:\n${this.logTail()}`)
                : e;
        });
        return this;
    }

    logTail(n = 40) {
        try {
            return readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
        } catch {
            return '';
        }
    }

    /** SIGTERM by pid; the exit must be clean (code 0, no sanitizer report). */
    async stop() {
        if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.checkLog();
        this.proc.kill('SIGTERM');
        const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
        const [code, signal] = await this.exited;
        clearTimeout(t);
        this.checkLog();
        if (code !== 0) throw new TestFailure(`${this.name} exited with ${code ?? signal}:\n${this.logTail()}`);
    }

    checkLog() {
        const text = readFileSync(this.logPath, 'utf8');
        for (const m of SANITIZER_MARKERS)
            if (text.includes(m)) throw new TestFailure(`${this.name} log has a sanitizer report:\n${text.slice(-4000)}`);
    }

    /** POST Loki JSON streams (as `tenant`, with a bearer `token` when given); expects 204. */
    async push(streams, tenant, token) {
        const headers = { 'Content-Type': 'application/json' };
        if (tenant) headers['X-Scope-OrgID'] = tenant;
        if (token) headers.Authorization = 'Bearer ' + token;
        const r = await fetch(this.url + 'loki/api/v1/push', {
            method: 'POST',
            headers,
            body: JSON.stringify({ streams }),
        });
        const body = await r.text();
        eq(r.status, 204, `push status (body ${JSON.stringify(body)})`);
    }

    /** GET a path (relative to the server); returns {status, text, json()}. */
    async get(path, params, headers) {
        const u = new URL(path, this.url);
        for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
        const r = await fetch(u, { headers });
        const text = await r.text();
        return { status: r.status, text, headers: r.headers, json: () => JSON.parse(text) };
    }
}

// Shared servers of this run, by name: {env, server: Promise<Strata>}.
const shared = new Map();

export class Env {
    constructor(binary, browser) {
        this.binary = binary;
        this.browser = browser;
        this.scratch = mkdtempSync(join(tmpdir(), 'strata-browser-'));
        this.servers = [];
        this.sharedUsed = [];
        this.contexts = [];
        this.pageErrors = [];
    }

    /** Start a strata with these extra flags; stopped when the test ends. */
    async strata(args = [], name = 'strata') {
        const s = new Strata(this, args, name);
        this.servers.push(s);
        return s.start();
    }

    /**
     * The run's shared server `name` (flags `args`), started on first use and
     * given its data by `await setup(server)` then. Stopped by stopShared().
     */
    async shared(name, setup = null, args = []) {
        if (!shared.has(name)) {
            const env = new Env(this.binary, this.browser);
            const server = (async () => {
                const s = new Strata(env, args, 'shared-' + name);
                env.servers.push(s);
                await s.start();
                if (setup) await setup(s);
                return s;
            })();
            shared.set(name, { env, server });
        }
        const s = await shared.get(name).server;
        if (!this.sharedUsed.includes(s)) this.sharedUsed.push(s);
        return s;
    }

    /**
     * A page in a fresh context (its own localStorage) at 1280x800 unless told
     * otherwise. opts.tenant and opts.token go into the dashboard's settings
     * before the first page loads, as if typed in the Settings dialog.
     */
    async page(opts = {}) {
        const ctx = await this.browser.newContext({
            viewport: opts.viewport || { width: 1280, height: 800 },
            colorScheme: opts.colorScheme || 'light',
        });
        this.contexts.push(ctx);
        if (opts.tenant || opts.token)
            await ctx.addInitScript(
                ([tenant, token]) => {
                    if (sessionStorage.getItem('strata-test-init')) return; // only before the first load
                    sessionStorage.setItem('strata-test-init', '1');
                    if (tenant) localStorage.setItem('strata.tenant', tenant);
                    if (token) localStorage.setItem('strata.token', token);
                },
                [opts.tenant || '', opts.token || ''],
            );
        const page = await ctx.newPage();
        page.setDefaultTimeout(10000);
        page.on('pageerror', (e) => this.pageErrors.push(e.message));
        return page;
    }

    /** Save a screenshot; returns its path. */
    async screenshot(page, name, opts = {}) {
        const dir = process.env.STRATA_UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs/img') : this.scratch;
        mkdirSync(dir, { recursive: true });
        const path = join(dir, name);
        await page.screenshot({ path, ...opts });
        return path;
    }

    async finish() {
        let err = null;
        for (const c of this.contexts.reverse()) await c.close().catch(() => {});
        for (const s of this.servers.reverse()) {
            try {
                await s.stop();
            } catch (e) {
                err = err || e;
            }
        }
        for (const s of this.sharedUsed) {
            try {
                s.checkLog();
                if (s.proc.exitCode !== null || s.proc.signalCode !== null)
                    throw new TestFailure(`${s.name} died (${s.proc.exitCode ?? s.proc.signalCode}):\n${s.logTail()}`);
            } catch (e) {
                err = err || e;
            }
        }
        if (!err && this.pageErrors.length)
            err = new TestFailure('uncaught exception in the page: ' + this.pageErrors.join('; '));
        if (err) throw err;
    }

    cleanupScratch() {
        rmSync(this.scratch, { recursive: true, force: true });
    }
}

/**
 * Stop every shared server: each must exit 0 with a clean log. Reported as one
 * test per server; returns {passed, failed}.
 */
export async function stopShared() {
    let passed = 0;
    let failed = 0;
    for (const [name, { env, server }] of shared) {
        let err = null;
        await server.catch((e) => (err = e)); // a failed start: its tests have said so
        await env.finish().catch((e) => (err = err || e));
        if (err) console.log(err.stack || String(err));
        if (!err) {
            passed++;
            console.log(`ok   shared.${name}_stops_cleanly`);
            env.cleanupScratch();
        } else {
            failed++;
            console.log(`FAIL shared.${name}_stops_cleanly (logs in ${env.scratch})`);
        }
    }
    shared.clear();
    return { passed, failed };
}

const registry = [];

/** Register a test: fn(env) may throw; opts.timeoutMs bounds it (default 60 s). */
export function test(name, fn, opts = {}) {
    registry.push({ name, fn, timeoutMs: opts.timeoutMs || 60000 });
}

/** Run the registered tests whose name contains filter; returns {passed, failed}. */
export async function runAll(binary, browser, filter, prefix) {
    let passed = 0;
    let failed = 0;
    for (const t of registry) {
        const full = `${prefix}.${t.name}`;
        if (filter && !full.includes(filter)) continue;
        const env = new Env(binary, browser);
        const t0 = Date.now();
        let ok = true;
        let timer;
        try {
            await Promise.race([
                t.fn(env),
                new Promise((_, rej) => {
                    timer = setTimeout(() => rej(new TestFailure(`test timed out after ${t.timeoutMs} ms`)), t.timeoutMs);
                }),
            ]);
        } catch (e) {
            ok = false;
            console.log(e.stack || String(e));
        } finally {
            clearTimeout(timer);
        }
        try {
            await env.finish();
        } catch (e) {
            if (ok) console.log(e.stack || String(e));
            ok = false;
        }
        const dt = ((Date.now() - t0) / 1000).toFixed(1);
        if (ok) {
            passed++;
            console.log(`ok   ${full} (${dt}s)`);
            env.cleanupScratch();
        } else {
            failed++;
            console.log(`FAIL ${full} (${dt}s; logs in ${env.scratch})`);
        }
    }
    registry.length = 0;
    return { passed, failed };
}

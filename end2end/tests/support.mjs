// Starts the paybridge binary built by `.dev/build` (debug, or `--release` when
// PAYBRIDGE_BUILD=release) on a free port with its own SQLite database, and launches
// Debian's Chromium through playwright-core. Any uncaught error in a page — a bundle that
// fails to instantiate, a panic while hydrating — fails the test it happened in.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..', '..');
/// `debug` or `release`: which build the tests run against (screenshots go under it).
export const build = process.env.PAYBRIDGE_BUILD ?? 'debug';
export const resultsDir = resolve(here, '..', 'test-results', build);
export const SERVICE_KEY = 'e2e-service-key';
export const PARTNER_ID = 'demomall:0:demo-app-public-key';

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export async function startServer() {
  const bin = process.env.PAYBRIDGE_BIN ?? join(root, 'target', build, 'paybridge');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'paybridge-e2e-'));
  const child = spawn(bin, [], {
    cwd: root,
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? join(root, 'target', 'site'),
      DATABASE_URL: `sqlite://${join(dataDir, 'paybridge.db')}`,
      PAYBRIDGE_DATA_DIR: dataDir,
      CAFE24_SERVICE_KEY: SERVICE_KEY,
      SANDBOX: 'true',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`paybridge exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('paybridge did not become healthy in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function screenshot(page, name) {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export function sign(...parts) {
  return createHmac('sha256', SERVICE_KEY).update(parts.join('')).digest('base64');
}

export function orderId() {
  return `20261123-${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
}

// Chromium reports every non-2xx answer as a console error "Failed to load resource". The
// tests provoke refusals on purpose — of the page's own requests (fetch) and of pages
// opened — so those are not page errors; a failed script, stylesheet, image or icon is, as
// is everything else on the console's error level. `asked` holds the URLs the page fetched
// or navigated to.
function isPageError(message, asked) {
  if (message.type() !== 'error') return false;
  if (!message.text().startsWith('Failed to load resource:')) return true;
  return !asked.has(message.location().url);
}

const ASKED_BY_THE_PAGE = new Set(['fetch', 'xhr', 'document']);

// One server and one browser context for a test file: started before its tests, stopped
// after. `shared.open(path)` opens a page of the server and returns it with its errors and
// `hydrated()`; `shared.newPage()` a blank one. Whatever page of the context throws (or logs an
// error) fails the running test, so a bundle that does not start cannot pass unnoticed.
export function serverAndBrowser() {
  let seen = [];
  const shared = {
    async newPage() {
      const page = await shared.context.newPage();
      const errors = [];
      let failed;
      const firstError = new Promise((_, reject) => (failed = reject));
      firstError.catch(() => {});
      const record = (what) => {
        errors.push(what);
        seen.push(`${page.url()}: ${what}`);
        failed(new Error(`${page.url()}: ${what}`));
      };
      page.on('pageerror', (e) => record(`uncaught ${e.name}: ${e.message}`));
      const asked = new Set();
      page.on('request', (r) => ASKED_BY_THE_PAGE.has(r.resourceType()) && asked.add(r.url()));
      page.on('console', (m) => isPageError(m, asked) && record(`console.error: ${m.text()} (${m.location().url})`));
      // Waits until the Leptos page has hydrated; fails at once when the page throws (a
      // bundle that does not instantiate never hydrates).
      const hydrated = () =>
        Promise.race([
          page.getByTestId('hydration').filter({ hasText: 'interactive' }).waitFor({ timeout: 15_000 }),
          firstError,
        ]);
      return { page, errors, hydrated };
    },
    async open(path) {
      const opened = await shared.newPage();
      await opened.page.goto(`${shared.server.base}${path}`);
      return opened;
    },
  };
  before(async () => {
    shared.server = await startServer();
    shared.browser = await launchBrowser();
    shared.context = await shared.browser.newContext();
  });
  afterEach(() => {
    const errors = seen;
    seen = [];
    assert.deepEqual(errors, [], `errors in the ${build} build's pages`);
  });
  after(async () => {
    await shared.browser?.close();
    await shared.server?.stop();
  });
  return shared;
}

/// The demo mall's Store API key (SANDBOX_API_KEY's default).
export const STORE_API_KEY = 'sk_test_paybridge_demomall';

/// A Store API intent, created the way a store's server creates one.
export async function createIntent(base, extra = {}) {
  const res = await fetch(`${base}/api/v2/payment-intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${STORE_API_KEY}`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
    body: JSON.stringify({
      amount: 9900,
      currency: 'PHP',
      orderId: `E2E-${randomUUID().slice(0, 12)}`,
      orderName: 'Browser test order',
      successUrl: `${base}/demo-mall/store/success`,
      failUrl: `${base}/demo-mall/store/fail`,
      ...extra,
    }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`intent not created: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// Starts the paybridge binary built by `cargo leptos build` on a free port with its own
// SQLite database, and launches Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..', '..');
export const resultsDir = resolve(here, '..', 'test-results');
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
  const bin = process.env.PAYBRIDGE_BIN ?? join(root, 'target', 'debug', 'paybridge');
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

// One server and one browser for a test file: started before its tests, stopped after.
// `shared.open(path)` opens a page of the server and collects the page's uncaught errors.
export function serverAndBrowser() {
  const shared = {
    async open(path) {
      const page = await shared.browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e));
      await page.goto(`${shared.server.base}${path}`);
      return { page, errors };
    },
  };
  before(async () => {
    shared.server = await startServer();
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
    await shared.server?.stop();
  });
  return shared;
}

// Time to interactive of the review page (the page a buyer lands on from the storefront
// button), beside the same page served without its bundle (a static SSR page: the same
// HTML and stylesheet), in headless Chromium against a built server — by default the
// release build, as operators run it:
//
//   .dev/build-release && (cd end2end && node bench/review-tti.mjs)
//
// Each load is a first visit (a new browser context: nothing cached). "Interactive" is the
// moment the page's hydration badge says so (set by an effect once the bundle has hydrated
// the page); the static page's is its load event. Runs on loopback, then with the network
// throttled to a phone's (BENCH_THROTTLE=0 skips it). BENCH_LOADS (default 20) loads of each.
process.env.PAYBRIDGE_BUILD ??= 'release';
const { startServer, launchBrowser } = await import('../tests/support.mjs');

const loads = Number(process.env.BENCH_LOADS ?? 20);
// Chrome DevTools' "Fast 4G" preset: 9 Mbit/s down, 1.5 Mbit/s up, 60 ms latency (×2.75 in
// its own throttling; here the request latency as given).
const FAST_4G = { offline: false, latency: 165, downloadThroughput: (9 * 1024 * 1024) / 8, uploadThroughput: (1.5 * 1024 * 1024) / 8 };

// Records, in the page's own clock (milliseconds since the navigation started), when the
// hydration badge first reads "interactive".
const WATCH_HYDRATION = () => {
  const check = () => {
    const badge = document.querySelector('[data-testid="hydration"]');
    if (badge && badge.textContent.trim() === 'interactive' && window.__interactive === undefined) {
      window.__interactive = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
};

async function reviewUrl(browser, base) {
  // As a buyer gets there: the product page's button reserves the order and opens the page.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/demo-mall/products/ube`);
  const button = page.getByTestId('paybridge-button');
  await button.waitFor({ timeout: 15_000 });
  await Promise.all([page.waitForURL((u) => u.pathname === '/api/external-checkout/order/review'), button.click()]);
  await page.getByTestId('review-order').waitFor();
  const url = page.url();
  await context.close();
  return url;
}

async function loadOnce(browser, url, { withBundle, network }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (network) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', network);
  }
  let bundleBytes = 0;
  page.on('requestfinished', async (request) => {
    if (new URL(request.url()).pathname.startsWith('/pkg/')) bundleBytes += (await request.sizes()).responseBodySize;
  });
  if (withBundle) {
    await page.addInitScript(WATCH_HYDRATION);
  } else {
    await page.route(/\/pkg\/.*\.(js|wasm)$/, (route) => route.abort());
  }
  await page.goto(url, { waitUntil: 'load' });
  let ms;
  if (withBundle) {
    await page.waitForFunction(() => window.__interactive !== undefined, null, { timeout: 60_000 });
    ms = await page.evaluate(() => window.__interactive);
  } else {
    ms = await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
  }
  const reviewed = await page.getByTestId('review-order').count();
  await context.close();
  if (reviewed !== 1) throw new Error('the review page did not show the order');
  return { ms, bundleBytes };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(browser, url, network) {
  const rows = {};
  for (const [label, withBundle] of [['static SSR (no bundle)', false], ['hydrated (bundle)', true]]) {
    await loadOnce(browser, url, { withBundle, network }); // warm the server's own caches
    const times = [];
    let bytes = 0;
    for (let i = 0; i < loads; i++) {
      const { ms, bundleBytes } = await loadOnce(browser, url, { withBundle, network });
      times.push(ms);
      bytes = bundleBytes;
    }
    times.sort((a, b) => a - b);
    rows[label] = { p50: quantile(times, 0.5), p90: quantile(times, 0.9), bytes };
  }
  return rows;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const url = await reviewUrl(browser, server.base);
  const profiles = [['loopback', null]];
  if (process.env.BENCH_THROTTLE !== '0') profiles.push(['Fast 4G (9 Mbit/s, 165 ms)', FAST_4G]);
  console.log(`review page, ${loads} first visits each (${process.env.PAYBRIDGE_BUILD} build)`);
  for (const [name, network] of profiles) {
    const rows = await measure(browser, url, network);
    const s = rows['static SSR (no bundle)'];
    const h = rows['hydrated (bundle)'];
    console.log(`\n${name}`);
    console.log('| page | p50 | p90 | `/pkg/` bytes on the wire |');
    console.log('|---|---|---|---|');
    for (const [label, r] of Object.entries(rows)) {
      console.log(`| ${label} | ${r.p50.toFixed(0)} ms | ${r.p90.toFixed(0)} ms | ${r.bytes.toLocaleString('en')} |`);
    }
    console.log(`ratio hydrated / static: p50 ${(h.p50 / s.p50).toFixed(2)}×, p90 ${(h.p90 / s.p90).toFixed(2)}×`);
  }
} finally {
  await browser.close();
  await server.stop();
}

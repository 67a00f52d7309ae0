// The storefront payment button in a real browser: the demo product page loads our
// scripttag (with its SRI hash) beside a simulated CAFE24API, the button reserves the
// order, the review page shows Cafe24's totals, and the sandbox PG takes the payment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshot, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

test('product page → button → review page → Pay → approve → the mall\'s success page, notified', async () => {
  const { page, errors, hydrated } = await shared.open('/demo-mall/products/ube');
  const button = page.getByTestId('paybridge-button');
  await button.waitFor({ timeout: 15_000 });
  assert.equal(await button.innerText(), 'Pay with paybridge');
  await screenshot(page, 'storefront-button');

  await Promise.all([page.waitForURL((u) => u.pathname === '/api/external-checkout/order/review'), button.click()]);
  await hydrated();
  const orderId = await page.getByTestId('review-order').innerText();
  assert.match(await page.getByTestId('review-shipping').innerText(), /100\.00/);
  assert.match(await page.getByTestId('review-total').innerText(), /280\.50 PHP/);
  assert.match(await page.getByTestId('review-address').innerText(), /Juan dela Cruz/);
  await screenshot(page, 'storefront-review-page');

  await page.getByTestId('review-pay').click();
  await page.getByTestId('approve').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('amount').innerText(), /280\.50 PHP/);
  await Promise.all([page.waitForURL((u) => u.pathname === '/api/shop/pgsuccess'), page.getByTestId('approve').click()]);
  assert.equal(new URL(page.url()).searchParams.get('order_id'), orderId);

  // The payment noty reaches the mall through the outbox; the page reloads itself until it
  // is in (nobody presses reload).
  await page.getByTestId('noty').first().waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('outcome').innerText(), /payment complete/);
  assert.match(await page.getByTestId('noty').first().innerText(), /payment\s+T/);
  await screenshot(page, 'storefront-success');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the basket page, opened as a page of its own, shows the button', async () => {
  const { page, errors } = await shared.open('/demo-mall/basket');
  assert.equal(await page.evaluate(() => window.top === window.self), true, 'a top-level page');
  const button = page.getByTestId('paybridge-button');
  await button.waitFor({ timeout: 15_000 });
  assert.equal(await button.innerText(), 'Pay with paybridge');
  assert.equal(await page.locator('#appPaymentButtonBox [data-testid="paybridge-button"]').count(), 1);
  await screenshot(page, 'storefront-basket-button');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a signed-out buyer checks out as a guest: the guest id is signed and reserved, and bGuest is set', async () => {
  const { page, errors, hydrated } = await shared.open('/demo-mall/basket');
  assert.match(await page.getByTestId('customer').innerText(), /Signed in as demobuyer/);
  await Promise.all([page.waitForURL((u) => u.searchParams.get('guest') === '1'), page.getByTestId('sign-out').click()]);
  assert.match(await page.getByTestId('customer').innerText(), /Shopping as a guest/);
  const guestId = await page.evaluate(() => window.DEMO_CUSTOMER.guest_id);
  assert.match(guestId, /^guest_/);

  const button = page.getByTestId('paybridge-button');
  await button.waitFor({ timeout: 15_000 });
  const hmacRequest = page.waitForRequest((r) => r.url().includes('/api/external-checkout/script/hmac'));
  const payloadRequest = page.waitForRequest(
    (r) => r.url().endsWith('/api/external-checkout/payload') && r.method() === 'POST',
  );
  await Promise.all([page.waitForURL((u) => u.pathname === '/api/external-checkout/order/review'), button.click()]);
  assert.equal(new URL((await hmacRequest).url()).searchParams.get('member_id'), guestId);
  const payload = (await payloadRequest).postDataJSON();
  assert.equal(payload.member_id, guestId);
  assert.equal(payload.bGuest, 1);

  await hydrated();
  assert.equal(await page.getByTestId('review-order').innerText(), payload.order_id);
  assert.match(await page.getByTestId('review-total').innerText(), /1080\.50 PHP/);
  assert.deepEqual(errors, []);
  await page.close();
});

// Counts the WebAssembly modules the page's scripts start, and marks each one ready a
// task after it was instantiated: by then the button's start function has run and made
// its decision (the page-role and iframe checks come before its first await).
function watchWasm(page) {
  return page.addInitScript(() => {
    const instantiate = WebAssembly.instantiate;
    window.__wasm = { started: 0, ready: 0 };
    WebAssembly.instantiate = function (...args) {
      window.__wasm.started++;
      return instantiate.apply(this, args).then((result) => {
        setTimeout(() => window.__wasm.ready++, 0);
        return result;
      });
    };
  });
}

// Serves `html` as a page of paybridge's origin (a path paybridge does not have) and opens it.
async function openHtml(page, path, html) {
  const url = `${shared.server.base}${path}`;
  await page.route(url, (route) => route.fulfill({ contentType: 'text/html', body: html }));
  await page.goto(url, { waitUntil: 'load' });
}

test('the button stays away from pages that are not product or basket pages, and from iframes', async () => {
  const { page } = await shared.newPage();
  await watchWasm(page);
  const asked = [];
  page.on('request', (r) => r.url().includes('/api/external-checkout/script/') && asked.push(r.url()));
  await openHtml(page, '/e2e/main-page', `<html><head><meta name="path_role" content="MAIN"></head><body>
    <div id="appPaymentButtonBox"></div>
    <script>window.CAFE24API = { MALL_ID: "demomall", SHOP_NO: 1 };</script>
    <script src="${shared.server.base}/api/external-checkout/script"></script></body></html>`);
  await page.waitForFunction(() => window.__wasm.ready === 1);
  assert.equal(await page.getByTestId('paybridge-button').count(), 0);
  assert.deepEqual(asked, [], 'a main page asks paybridge nothing');

  // The frame's load event comes after its (synchronous) scripttag has run.
  await openHtml(page, '/e2e/framed-basket', `<iframe id="f" src="${shared.server.base}/demo-mall/basket"></iframe>`);
  const frame = page.frame({ url: (u) => u.pathname === '/demo-mall/basket' });
  assert.equal(await frame.evaluate(() => typeof window.DEMO_BASKET), 'object', 'the basket page ran its scripts');
  assert.equal(await frame.evaluate(() => window.__wasm.started), 0, 'no button module starts inside an iframe');
  assert.equal(await page.frameLocator('#f').getByTestId('paybridge-button').count(), 0);
  await page.close();
});

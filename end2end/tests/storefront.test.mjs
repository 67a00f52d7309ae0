// The storefront payment button in a real browser: the demo product page loads our
// scripttag (with its SRI hash) beside a simulated CAFE24API, the button reserves the
// order, the review page shows Cafe24's totals, and the sandbox PG takes the payment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshot, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

test('product page → button → review page → Pay → approve → the mall\'s success page, notified', async () => {
  const { page, errors } = await shared.open('/demo-mall/products/ube');
  const button = page.getByTestId('paybridge-button');
  await button.waitFor({ timeout: 15_000 });
  assert.equal(await button.innerText(), 'Pay with paybridge');
  await screenshot(page, 'storefront-button');

  await Promise.all([page.waitForURL((u) => u.pathname === '/api/external-checkout/order/review'), button.click()]);
  await page.getByTestId('hydration').filter({ hasText: 'interactive' }).waitFor({ timeout: 15_000 });
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

  // The payment noty reaches the mall through the outbox.
  for (let i = 0; i < 50 && (await page.getByTestId('noty').count()) === 0; i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
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
  const { page, errors } = await shared.open('/demo-mall/basket');
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

  await page.getByTestId('hydration').filter({ hasText: 'interactive' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('review-order').innerText(), payload.order_id);
  assert.match(await page.getByTestId('review-total').innerText(), /1080\.50 PHP/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the button stays away from pages that are not product or basket pages, and from iframes', async () => {
  const page = await shared.browser.newPage();
  await page.setContent(`<html><head><meta name="path_role" content="MAIN"></head><body>
    <div id="appPaymentButtonBox"></div>
    <script>window.CAFE24API = { MALL_ID: "demomall", SHOP_NO: 1 };</script>
    <script src="${shared.server.base}/api/external-checkout/script"></script></body></html>`);
  await page.waitForTimeout(1500);
  assert.equal(await page.getByTestId('paybridge-button').count(), 0);

  await page.goto(`${shared.server.base}/demo-mall/`);
  await page.setContent(`<iframe id="f" src="${shared.server.base}/demo-mall/basket"></iframe>`);
  const frame = page.frameLocator('#f');
  await page.waitForTimeout(2500);
  assert.equal(await frame.getByTestId('paybridge-button').count(), 0);
  await page.close();
});

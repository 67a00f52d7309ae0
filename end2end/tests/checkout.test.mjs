// The synchronous checkout in a real browser: Cafe24's payment request, the sandbox
// PG's hosted page, and the buyer landing back on the return_url.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orderId, PARTNER_ID, screenshot, sign, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

test('approving on the sandbox page lands on the return_url with result_code=0000', async () => {
  const order = orderId();
  const amount = '3065.00';
  const returnUrl = `${shared.server.base}/demo-mall/return`;
  const res = await fetch(`${shared.server.base}/api/synchronous-checkout/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      request_type: 'request',
      partner_id: PARTNER_ID,
      shop_no: '1',
      order_id: order,
      paymethod: 'etc',
      currency: 'PHP',
      amount,
      goods_name: 'Browser test product',
      return_url: returnUrl,
      hash_data: sign(amount, 'PHP', order, PARTNER_ID),
      extra_data: JSON.stringify({ from: 'e2e' }),
    }),
  });
  const answer = await res.json();
  assert.equal(res.status, 200, JSON.stringify(answer));
  assert.equal(answer.result_code, '0000');

  const { page } = await shared.newPage();
  await page.goto(answer.payment_url);
  await page.getByTestId('amount').waitFor();
  assert.match(await page.getByTestId('amount').innerText(), /3065\.00 PHP/);
  await screenshot(page, 'sandbox-payment-page');

  await Promise.all([page.waitForURL((url) => url.pathname === '/demo-mall/return'), page.getByTestId('approve').click()]);
  const landed = new URL(page.url());
  assert.equal(landed.origin + landed.pathname, returnUrl);
  assert.equal(landed.searchParams.get('result_code'), '0000');
  assert.ok(landed.searchParams.get('key')?.length >= 43, 'an unguessable key');
  assert.equal(landed.searchParams.get('extra_data'), JSON.stringify({ from: 'e2e' }));
  assert.equal(await page.getByTestId('payed-tf').innerText(), 'T');
  assert.equal(await page.getByTestId('hash-check').innerText(), 'verified');
  await screenshot(page, 'return-url-result-0000');
  await page.close();
});

test('a newcomer buys in the demo mall and cancels the payment', async () => {
  const { page } = await shared.open('/demo-mall/');
  await screenshot(page, 'demo-mall-storefront');
  await page.getByTestId('buy-ube').click();
  await page.getByTestId('approve').waitFor();
  assert.match(await page.getByTestId('amount').innerText(), /180\.50 PHP/);
  await page.getByTestId('approve').click();
  await page.getByTestId('outcome').waitFor();
  assert.match(await page.getByTestId('outcome').innerText(), /payment complete/);
  await screenshot(page, 'demo-mall-paid');
  await page.getByTestId('cancel').click();
  await page.getByTestId('cancel-outcome').waitFor();
  assert.equal(await page.getByTestId('cancel-outcome').innerText(), 'Cancelled');
  await screenshot(page, 'demo-mall-cancelled');
  await page.close();
});

test('the merchant opens paybridge from the demo mall, links credentials and enables a shop', async () => {
  const { page, errors, hydrated } = await shared.open('/demo-mall/');
  await Promise.all([page.waitForURL((url) => url.pathname === '/admin/display'), page.getByTestId('admin-launch').click()]);
  await hydrated();
  assert.equal(await page.getByTestId('mall-id').innerText(), 'demomall');
  await screenshot(page, 'admin-signed-in');

  await page.getByTestId('public-key').fill('demo-app-public-key');
  await page.getByTestId('secret-key').fill('not-the-secret');
  await page.getByTestId('link').click();
  await page.getByTestId('link-error').filter({ hasText: 'refused' }).waitFor();
  await screenshot(page, 'admin-link-refused');

  await page.getByTestId('secret-key').fill('demo-app-secret-key');
  await page.getByTestId('link').click();
  await page.getByTestId('link-status').filter({ hasText: 'Linked' }).waitFor();

  assert.equal(await page.getByTestId('shop-2-status').innerText(), 'Disabled');
  await page.getByTestId('toggle-2').click();
  await page.getByTestId('shop-2-status').filter({ hasText: 'Enabled' }).waitFor({ timeout: 15_000 });
  await screenshot(page, 'admin-shop-enabled');

  await page.getByTestId('toggle-3').click();
  await page.getByTestId('shop-3-error').filter({ hasText: 'KRW' }).waitFor();
  assert.equal(await page.getByTestId('shop-3-status').innerText(), 'Disabled');
  await screenshot(page, 'admin-currency-refused');
  assert.deepEqual(errors, []);
  await page.close();
});

// The Store API v2 from the buyer's side: the demo store (a store of its own on the API)
// creates an intent, the buyer pays through paybridge's hosted page /pay/{id} (a hydrated
// Leptos page with live status) and the sandbox PG, and lands on the store's success page,
// which shows the payment as the API reads it and the signed webhook its receiver verified.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createIntent, screenshot, serverAndBrowser, STORE_API_KEY } from './support.mjs';

const shared = serverAndBrowser();
const KEY = STORE_API_KEY;

/// An intent, created the way a store's server creates one.
const intent = (extra = {}) => createIntent(shared.server.base, { orderName: 'Browser test order', ...extra });

test('a newcomer pays in the demo store: hosted page → sandbox PG → the store\'s success page, webhook verified', async () => {
  const { page, hydrated } = await shared.open('/demo-mall/');
  await Promise.all([page.waitForURL((url) => url.pathname === '/demo-mall/store/'), page.getByTestId('demo-store').click()]);
  await page.getByTestId('store-amount').fill('250.00');
  await screenshot(page, 'demo-store');
  await Promise.all([page.waitForURL((url) => url.pathname.startsWith('/pay/pay_')), page.getByTestId('store-pay').click()]);

  await hydrated();
  assert.equal(await page.getByTestId('pay-amount').innerText(), '250.00 PHP');
  assert.equal(await page.getByTestId('pay-merchant').innerText(), 'Tindahan');
  assert.equal(await page.getByTestId('pay-status').innerText(), 'REQUEST');
  await screenshot(page, 'pay-page-open');

  await Promise.all([
    page.waitForURL((url) => url.pathname.startsWith('/sandbox-pg/checkout/')),
    page.getByTestId('pay-continue').click(),
  ]);
  assert.match(await page.getByTestId('amount').innerText(), /250\.00 PHP/);
  await Promise.all([page.waitForURL((url) => url.pathname === '/demo-mall/store/success'), page.getByTestId('approve').click()]);
  assert.equal(await page.getByTestId('store-status').innerText(), 'COMPLETE');
  // The page asks again by itself until the webhook is in.
  await page.getByTestId('store-webhook-type').filter({ hasText: 'payment.completed' }).waitFor({ timeout: 20_000 });
  assert.match(await page.getByTestId('store-webhook').first().innerText(), /verified/);
  await screenshot(page, 'demo-store-paid');
  await page.close();
});

test('the hosted page shows a payment approved in another tab in place, then sends the buyer to the store', async () => {
  const paying = await intent();
  const { page, hydrated } = await shared.open(new URL(paying.paymentUrl).pathname);
  await hydrated();
  assert.equal(await page.getByTestId('pay-status').innerText(), 'REQUEST');
  await page.getByTestId('pay-continue').waitFor();

  // Another tab: the buyer approves on the PG's page (its form endpoint). This tab learns
  // of it only by asking paybridge.
  const approved = await fetch(`${paying.pgResponse.checkoutUrl}/approve`, { method: 'POST', redirect: 'manual' });
  assert.equal(approved.status, 303);

  await page.getByTestId('pay-status').filter({ hasText: 'COMPLETE' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('pay-outcome').innerText(), 'This order is paid.');
  assert.equal(await page.getByTestId('pay-continue').count(), 0);
  await screenshot(page, 'pay-page-paid-elsewhere');
  await page.waitForURL((url) => url.pathname === '/demo-mall/store/success', { timeout: 15_000 });
  const landed = new URL(page.url());
  assert.equal(landed.searchParams.get('paymentId'), paying.id);
  assert.equal(landed.searchParams.get('orderId'), paying.orderId);
  assert.equal(await page.getByTestId('store-status').innerText(), 'COMPLETE');
  await page.close();
});

test('the hosted page shows an intent the store canceled, then sends the buyer to its failUrl', async () => {
  const paying = await intent();
  const { page, hydrated } = await shared.open(new URL(paying.paymentUrl).pathname);
  await hydrated();
  const res = await fetch(`${shared.server.base}/api/v2/payments/${paying.id}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'out of stock' }),
  });
  assert.equal(res.status, 200);
  await page.getByTestId('pay-outcome').filter({ hasText: 'canceled' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('pay-status').innerText(), 'FAIL');
  assert.equal(await page.getByTestId('pay-continue').count(), 0);
  await page.waitForURL((url) => url.pathname === '/demo-mall/store/fail', { timeout: 15_000 });
  assert.equal(new URL(page.url()).searchParams.get('code'), 'canceled');
  assert.equal(await page.getByTestId('store-fail-code').innerText(), 'canceled');
  await page.close();
});

test('an unknown payment is a 404 page', async () => {
  const { page, hydrated } = await shared.newPage();
  const response = await page.goto(`${shared.server.base}/pay/pay_unknown`);
  assert.equal(response.status(), 404);
  await hydrated();
  assert.match(await page.getByTestId('pay-error').innerText(), /no payment at this address/);
  await page.close();
});

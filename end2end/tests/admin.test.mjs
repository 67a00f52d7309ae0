// The merchant manages the Store API's keys and webhook endpoints in the admin (SPEC §8.1,
// §8.4): a key or a signing secret is on screen once, from the answer that made it, and
// a reload shows only what identifies it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshot, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

async function signedInAdmin() {
  const opened = await shared.open('/demo-mall/');
  const { page, hydrated } = opened;
  await Promise.all([page.waitForURL((url) => url.pathname === '/admin/display'), page.getByTestId('admin-launch').click()]);
  await hydrated();
  return opened;
}

test('the merchant creates an API key, sees it once, and revokes it', async () => {
  const { page, errors, hydrated } = await signedInAdmin();
  const keys = page.getByTestId('api-keys');
  await keys.getByTestId('create-key').click();
  const shown = keys.getByTestId('new-key');
  await shown.waitFor();
  const key = await shown.innerText();
  assert.match(key, /^sk_test_[A-Za-z0-9]{32}$/);
  assert.match(await keys.getByTestId('new-key-notice').innerText(), /will not be shown again/);
  // The list is read again after the change; it has the key by prefix and last 4.
  const row = keys.locator('tr', { hasText: `sk_test_…${key.slice(-4)}` });
  await row.getByTestId('api-key-status').filter({ hasText: 'Active' }).waitFor();
  await screenshot(page, 'admin-api-key-created');
  await keys.getByTestId('new-key-notice').getByRole('button').click();
  await shown.waitFor({ state: 'detached' });

  await page.reload();
  await hydrated();
  await row.waitFor();
  assert.equal(await keys.getByTestId('new-key').count(), 0, 'the key is not shown again');
  assert.ok(!(await page.content()).includes(key.slice('sk_test_'.length)), 'nor anywhere in the page');

  await row.getByTestId('revoke-key').click();
  await row.getByTestId('confirm-revoke-key').click();
  await row.getByTestId('api-key-status').filter({ hasText: 'Revoked' }).waitFor();
  assert.equal(await row.getByTestId('revoke-key').count(), 0, 'a revoked key cannot be revoked again');
  await screenshot(page, 'admin-api-key-revoked');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the merchant adds a webhook endpoint, sees its secret once, rotates it and deletes it', async () => {
  const { page, errors, hydrated } = await signedInAdmin();
  const endpoints = page.getByTestId('webhook-endpoints');
  const urlInput = endpoints.getByTestId('endpoint-url');

  await urlInput.fill('https://evil.example.com/hooks');
  await endpoints.getByTestId('add-endpoint').click();
  await endpoints.getByTestId('endpoint-url-error').filter({ hasText: 'cannot go there' }).waitFor();
  assert.equal(await urlInput.inputValue(), 'https://evil.example.com/hooks', 'what was typed stays to be corrected');
  await screenshot(page, 'admin-endpoint-refused');

  const url = 'https://demomall.cafe24shop.com/hooks/paybridge';
  await urlInput.fill(url);
  await endpoints.getByTestId('add-endpoint').click();
  const shown = endpoints.getByTestId('new-endpoint-secret');
  await shown.waitFor();
  const secret = await shown.innerText();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.match(await endpoints.getByTestId('new-endpoint-secret-notice').innerText(), /will not be shown again/);
  const row = endpoints.locator('tr', { hasText: url });
  await row.waitFor();
  assert.equal(await urlInput.inputValue(), '', 'the form is ready for the next one');
  assert.equal(await endpoints.getByTestId('endpoint-url-error').innerText(), '');
  await screenshot(page, 'admin-endpoint-added');

  await row.getByTestId('rotate-secret').click();
  // Shown in place: the row right under the endpoint's.
  const rotated = row.locator('xpath=following-sibling::tr[1]').getByTestId('rotated-secret');
  await rotated.waitFor();
  const next = await rotated.innerText();
  assert.match(next, /^whsec_/);
  assert.notEqual(next, secret);
  await row.getByTestId('previous-until').filter({ hasText: 'UTC' }).waitFor();
  await screenshot(page, 'admin-endpoint-rotated');

  await page.reload();
  await hydrated();
  await row.waitFor();
  const content = await page.content();
  assert.ok(!content.includes(secret) && !content.includes(next), 'no secret after a reload');
  assert.match(await row.getByTestId('previous-until').innerText(), /UTC/);

  await row.getByTestId('delete-endpoint').click();
  await row.getByTestId('confirm-delete-endpoint').click();
  await row.waitFor({ state: 'detached' });
  await endpoints.getByTestId('no-endpoints').waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

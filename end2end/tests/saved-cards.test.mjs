// The demo mall's "saved cards" page in a real browser (SPEC §8.3, §8.5): the shop's server
// talks to paybridge's Store API with its key; the buyer saves a card on the sandbox PG's
// page, comes back, the shop charges it without them (an off_session card), and deletes
// it. The PIN is encrypted in the page with WebCrypto as a JWE; a test decrypts it with
// Node's own crypto, so the format is proven, not assumed.
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { screenshot, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

/// The buyer saves `number` on the sandbox PG's page and lands back on the shop's page.
async function saveCard(page, number, { offSession = true, shot } = {}) {
  if (!offSession) await page.getByTestId('off-session').uncheck();
  await Promise.all([page.waitForURL((url) => url.pathname.startsWith('/sandbox-pg/registrations/')), page.getByTestId('add-card').click()]);
  if (shot) await screenshot(page, shot);
  await page.getByTestId('card-number').fill(number);
  await page.getByTestId('exp-month').fill('12');
  await page.getByTestId('exp-year').fill('2031');
  await page.getByTestId('cvc').fill('123');
  await Promise.all([page.waitForURL((url) => url.pathname === '/demo-mall/store/cards'), page.getByTestId('save-card').click()]);
}

test('a buyer saves a card, the shop charges it without them, and the card is deleted', async () => {
  const { page } = await shared.open('/demo-mall/');
  await Promise.all([page.waitForURL((url) => url.pathname === '/demo-mall/store/cards'), page.getByTestId('saved-cards').click()]);
  await page.getByTestId('no-cards').waitFor();
  await screenshot(page, 'saved-cards-empty');

  await saveCard(page, '4242 4242 4242 4242', { shot: 'sandbox-card-registration' });
  const landed = new URL(page.url());
  assert.ok(landed.searchParams.get('registrationId')?.startsWith('pay_'), page.url());
  assert.ok(landed.searchParams.get('tokenId')?.startsWith('tok_'), page.url());
  assert.equal(await page.getByTestId('notice').innerText(), 'Your card is saved.');
  const card = page.getByTestId('card');
  assert.equal(await card.count(), 1);
  assert.equal(await card.getByTestId('card-brand').innerText(), 'visa');
  assert.match(await card.getByTestId('card-last4').innerText(), /4242$/);
  assert.equal(await card.getAttribute('data-token'), landed.searchParams.get('tokenId'));
  await screenshot(page, 'saved-cards-listed');

  // Merchant-initiated: the shop charges the off_session card, no PIN asked.
  await card.getByTestId('charge').click();
  await page.getByTestId('notice').filter({ hasText: 'COMPLETE' }).waitFor();
  assert.match(await page.getByTestId('notice').innerText(), /^Payment pay_[0-9a-f]{32} is COMPLETE \(paid\)\.$/);
  await screenshot(page, 'saved-cards-charged');

  // A card the vault refuses is not saved; the buyer is back with the reason.
  await saveCard(page, '4000 0000 0000 0002');
  assert.equal(await page.getByTestId('notice').innerText(), 'The card was not saved (declined).');
  assert.equal(await page.getByTestId('card').count(), 1);

  await page.getByTestId('card').getByTestId('delete').click();
  await page.getByTestId('no-cards').waitFor();
  assert.equal(await page.getByTestId('notice').innerText(), 'The card is deleted.');
  await screenshot(page, 'saved-cards-deleted');
  await page.close();
});

test("the page's PIN encryption is a JWE (ECDH-ES, Concat KDF, A256GCM) that an independent implementation opens", async () => {
  const { page } = await shared.open('/demo-mall/store/cards');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'pin-test-1', use: 'enc', alg: 'ECDH-ES' };
  const jwe = await page.evaluate((key) => window.paybridgeDemo.encryptPin('135790', key), { kid: 'pin-test-1', jwk });

  const parts = jwe.split('.');
  assert.equal(parts.length, 5, jwe);
  const [protectedHeader, encryptedKey, iv, ciphertext, tag] = parts;
  assert.equal(encryptedKey, '', 'ECDH-ES (direct key agreement) has no encrypted key');
  const header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'));
  assert.deepEqual(Object.keys(header).sort(), ['alg', 'enc', 'epk', 'kid']);
  assert.deepEqual([header.alg, header.enc, header.kid], ['ECDH-ES', 'A256GCM', 'pin-test-1']);
  assert.deepEqual(Object.keys(header.epk).sort(), ['crv', 'kty', 'x', 'y']);
  assert.equal(Buffer.from(iv, 'base64url').length, 12);
  assert.equal(Buffer.from(tag, 'base64url').length, 16);

  // RFC 7518 §4.6: Z from ECDH with the ephemeral key, then the Concat KDF (one SHA-256
  // round: counter 1, Z, AlgorithmID "A256GCM", empty PartyUInfo and PartyVInfo, 256 bits).
  const z = diffieHellman({ privateKey, publicKey: createPublicKey({ key: header.epk, format: 'jwk' }) });
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const algorithm = Buffer.from('A256GCM');
  const otherInfo = Buffer.concat([u32(algorithm.length), algorithm, u32(0), u32(0), u32(256)]);
  const cek = createHash('sha256').update(Buffer.concat([u32(1), z, otherInfo])).digest();
  const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  const pin = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('ascii');
  assert.equal(pin, '135790');

  // Tampered, it does not open.
  const tampered = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
  tampered.setAAD(Buffer.from(protectedHeader.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), 'ascii'));
  tampered.setAuthTag(Buffer.from(tag, 'base64url'));
  tampered.update(Buffer.from(ciphertext, 'base64url'));
  assert.throws(() => tampered.final());
  await page.close();
});

test(
  'a buyer sets a PIN and pays with a saved card after entering it',
  async () => {
    const { page } = await shared.open('/demo-mall/store/cards');
    await saveCard(page, '4242 4242 4242 4242', { offSession: false });
    assert.equal(await page.getByTestId('notice').innerText(), 'Your card is saved.');
    const card = page.getByTestId('card').last();
    assert.equal(await card.getByTestId('charge').count(), 0, 'an on_session card is not charged by the shop');

    await page.getByTestId('pin-new').fill('135790');
    await page.getByTestId('set-pin').click();
    await page.getByTestId('pin-result').filter({ hasText: 'Your PIN is set.' }).waitFor({ timeout: 5_000 });
    assert.equal(await page.getByTestId('pin-new').inputValue(), '', 'the PIN does not stay in the page');
    await screenshot(page, 'saved-cards-pin-set');

    await page.getByTestId('pay-card').selectOption(await card.getAttribute('data-token'));
    await page.getByTestId('pay-pin').fill('135791');
    await page.getByTestId('pay-with-pin').click();
    await page.getByTestId('pay-result').filter({ hasText: 'pin_mismatch' }).waitFor({ timeout: 5_000 });

    await page.getByTestId('pay-pin').fill('135790');
    await page.getByTestId('pay-with-pin').click();
    await page.getByTestId('pay-result').filter({ hasText: 'COMPLETE' }).waitFor({ timeout: 5_000 });
    assert.match(await page.getByTestId('pay-result').innerText(), /^Payment pay_[0-9a-f]{32} is COMPLETE \(paid\)\.$/);
    await screenshot(page, 'saved-cards-paid-with-pin');
    await page.close();
  },
);

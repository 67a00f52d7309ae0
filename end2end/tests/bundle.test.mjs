// The hydrate bundle as a browser gets it: by its content-hashed names, compressed, kept
// a year (immutable), and still starting the page; the page itself is kept by no cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build, createIntent, serverAndBrowser } from './support.mjs';

const shared = serverAndBrowser();

test('the hashed bundle arrives compressed and immutable, and the page hydrates', async () => {
  const base = shared.server.base;
  const intent = await createIntent(base, { orderName: 'Bundle test order' });

  const { page, hydrated } = await shared.newPage();
  const bundle = new Map();
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (pathname.startsWith('/pkg/')) bundle.set(pathname.slice('/pkg/'.length), response);
  });
  const pageResponse = await page.goto(`${base}${new URL(intent.paymentUrl).pathname}`);
  await hydrated();
  assert.equal((await pageResponse.allHeaders())['cache-control'], 'no-store', 'the payment page is not kept');

  for (const kind of ['js', 'wasm', 'css']) {
    const names = [...bundle.keys()].filter((name) => name.endsWith(`.${kind}`));
    assert.ok(names.length > 0, `the page fetched its .${kind}: ${[...bundle.keys()]}`);
    for (const name of names) {
      assert.match(name, new RegExp(`^paybridge\\.[A-Za-z0-9_-]{22}\\.${kind}$`), 'a content-hashed name');
      const response = bundle.get(name);
      const headers = await response.allHeaders();
      assert.equal(response.status(), 200, name);
      assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable', name);
      assert.match(headers.vary ?? '', /accept-encoding/i, name);
      const accepted = (await response.request().allHeaders())['accept-encoding'] ?? '';
      // Chromium offers gzip on plain http (br only on https); the server sends what it prefers of what is offered.
      const expected = /\bbr\b/.test(accepted) ? 'br' : 'gzip';
      assert.equal(headers['content-encoding'], expected, `${name} (${build}), offered ${accepted}`);
      if (kind === 'wasm') {
        const sizes = await response.request().sizes();
        console.log(`# ${build} ${name}: ${sizes.responseBodySize} bytes on the wire (${expected})`);
      }
    }
  }
  await page.close();
});

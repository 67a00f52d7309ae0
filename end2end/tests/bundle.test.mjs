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

// A first run showed a 404 in the console on every page: the browser's implicit
// /favicon.ico. Each kind of page now names its icon, and the icon is there.
test('the Leptos pages and the server-rendered pages name an icon that loads', async () => {
  const base = shared.server.base;
  const intent = await createIntent(base, { orderName: 'Icon test order' });
  for (const path of [new URL(intent.paymentUrl).pathname, '/demo-mall/', '/demo-mall/products/ube']) {
    const { page } = await shared.open(path);
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    assert.ok(href, `${path} names an icon`);
    const icon = await page.request.get(new URL(href, page.url()).toString());
    assert.equal(icon.status(), 200, `${path}: ${href}`);
    assert.equal(icon.headers()['content-type'], 'image/svg+xml', `${path}: ${href}`);
    assert.match(await icon.text(), /^<svg /, `${path}: ${href}`);
    await page.close();
  }
});

// Two bundles (README "The browser bundles"): a buyer's page does not download the admin's
// code, and the admin hydrates from its own bundle, which arrives like the other.
test("a buyer's page loads the buyer pages' bundle and the admin its own", async () => {
  const base = shared.server.base;
  const intent = await createIntent(base, { orderName: 'Two bundles order' });
  const wasmOf = (page) => {
    const names = [];
    page.on('response', (response) => {
      const { pathname } = new URL(response.url());
      if (pathname.startsWith('/pkg/') && pathname.endsWith('.wasm')) names.push([pathname.slice(5), response]);
    });
    return names;
  };

  const buyer = await shared.newPage();
  const buyerWasm = wasmOf(buyer.page);
  await buyer.page.goto(`${base}${new URL(intent.paymentUrl).pathname}`);
  await buyer.hydrated();
  assert.deepEqual(
    buyerWasm.map(([name]) => name.replace(/\.[A-Za-z0-9_-]{22}\./, '.<hash>.')),
    ['paybridge.<hash>.wasm'],
    'the payment page fetched only the buyer pages\' bundle',
  );
  await buyer.page.close();

  const admin = await shared.newPage();
  const adminWasm = wasmOf(admin.page);
  await admin.page.goto(`${base}/demo-mall/`);
  await Promise.all([
    admin.page.waitForURL((url) => url.pathname === '/admin/display'),
    admin.page.getByTestId('admin-launch').click(),
  ]);
  await admin.hydrated();
  assert.deepEqual(
    adminWasm.map(([name]) => name.replace(/\.[A-Za-z0-9_-]{22}\./, '.<hash>.')),
    ['paybridge-admin.<hash>.wasm'],
    'the admin fetched only its own bundle',
  );
  const [name, response] = adminWasm[0];
  const headers = await response.allHeaders();
  assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable', name);
  assert.match(headers['content-encoding'] ?? '', /^(br|gzip)$/, name);
  const sizes = await response.request().sizes();
  console.log(`# ${build} ${name}: ${sizes.responseBodySize} bytes on the wire (${headers['content-encoding']})`);
  await admin.page.close();
});

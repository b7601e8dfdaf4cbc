// Every page type passes an axe-core scan with no serious or critical violation (WCAG 2 A/AA
// and axe's best practices): home, a category with filters applied, search results, a
// product, the cart empty and full, the shop's 404 page and the plain page of an unknown host.
// The scanner's context bypasses the pages' CSP to inject axe-core; the other specs keep it.

import assert from 'node:assert/strict';
import { expectText, test } from '../lib/harness.mjs';
import { addToCart, applyCode, cartCount, heading, productLink } from '../lib/storefront.mjs';

test('every page type passes axe-core with no serious or critical violation', async (t) => {
  const scanner = await t.visitor({ label: 'scanner', bypassCSP: true });
  const page = await scanner.open('/');
  await t.scan(scanner, 'home');

  // A category, with a size and "in stock" chosen in the filter form.
  await scanner.open('/categories/t-shirts');
  await expectText(heading(page), 'T-shirts');
  await page.getByRole('group', { name: 'Size' }).getByLabel(/^M \(\d+\)$/).check();
  await page.getByLabel('In stock only').check();
  await scanner.submit(page.getByRole('button', { name: 'Apply' }));
  const query = new URL(page.url()).searchParams;
  assert.deepEqual(query.getAll('option'), ['size:M']);
  assert.equal(query.get('in_stock'), '1');
  assert.ok((await page.getByRole('main').getByRole('listitem').count()) > 0, 'some T-shirts in M');
  await t.scan(scanner, 'category-filtered');

  await scanner.open('/search?q=linen');
  assert.ok(await productLink(page, 'Linen Shirt').isVisible());
  await t.scan(scanner, 'search');

  await scanner.open('/products/classic-crew-tee');
  await t.scan(scanner, 'product');

  await scanner.open('/cart');
  await t.scan(scanner, 'cart-empty');

  await scanner.open('/products/classic-crew-tee');
  await addToCart(scanner, 2);
  await scanner.open('/products/canvas-tote');
  await addToCart(scanner, 1);
  await applyCode(scanner, 'WELCOME10');
  assert.equal(await cartCount(page), 3);
  await t.scan(scanner, 'cart-full');

  await scanner.open('/products/no-such-product', { status: 404 });
  await expectText(heading(page), 'Page not found');
  await t.scan(scanner, 'not-found');

  await scanner.open('/', { shop: 'no-such-shop', status: 404 });
  await expectText(heading(page), 'Page not found');
  await t.scan(scanner, 'unknown-host');

  // The other demo shop (USD, its own categories).
  await scanner.open('/', { shop: 'micocah' });
  await t.scan(scanner, 'micocah-home');
  await scanner.open('/products/ethiopia-yirgacheffe', { shop: 'micocah' });
  await t.scan(scanner, 'micocah-product');
});

// The same shopping with JavaScript off: every page works with forms and links alone.
//
// Demo data (src/demo.rs): Flannel Shirt costs 409.000 ₫ + 10.000 ₫ per size (S M L XL), all
// in stock.

import assert from 'node:assert/strict';
import { expectText, test } from '../lib/harness.mjs';
import {
  addToCart,
  applyCode,
  cartCount,
  changeQuantity,
  chooseOptions,
  heading,
  lineOf,
  offer,
  productLink,
  removeLine,
  search,
  summary,
} from '../lib/storefront.mjs';

test('a guest without JavaScript searches, adds a chosen variant and works the cart', async (t) => {
  const guest = await t.visitor({ label: 'no-js guest', javaScript: false });
  const page = await guest.open('/');

  await search(guest, 'flanel');
  assert.equal(new URL(page.url()).pathname, '/search');
  await expectText(heading(page), 'Results for “flanel”');
  await guest.submit(productLink(page, 'Flannel Shirt'));
  await expectText(heading(page), 'Flannel Shirt');
  assert.equal((await offer(page)).price, '409.000 ₫');

  // Nothing updates the price without JavaScript; the form still sends the chosen size.
  await chooseOptions(page, { Size: 'XL' });
  assert.equal((await offer(page)).price, '409.000 ₫', 'no script ran');
  await addToCart(guest, 2);
  assert.equal(await cartCount(page), 2);
  assert.deepEqual(await lineOf(page, 'Flannel Shirt'), {
    item: 'Flannel Shirt XL',
    price: 439000,
    quantity: 2,
    total: 878000,
  });

  await applyCode(guest, 'WELCOME10');
  await expectText(page.getByText(/^Code WELCOME10 applied\./), /Code WELCOME10 applied\./);
  assert.equal((await summary(page)).Discount, -87800);

  await changeQuantity(guest, 'Flannel Shirt', 1);
  assert.equal((await lineOf(page, 'Flannel Shirt')).total, 439000);
  assert.equal(await cartCount(page), 1);

  // A refused change comes back as a message on the page.
  await changeQuantity(guest, 'Flannel Shirt', 500);
  await expectText(page.getByRole('alert'), 'Not enough in stock for that quantity.');
  assert.equal((await lineOf(page, 'Flannel Shirt')).quantity, 1);

  await removeLine(guest, 'Flannel Shirt');
  await expectText(page.getByRole('main').getByText('Your cart is empty.'), 'Your cart is empty.');
  assert.equal(await cartCount(page), 0);
});

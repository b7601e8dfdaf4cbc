// A guest on tinashop (VND), with JavaScript: finds a product through a misspelt search, picks
// a variant (site.js updates the price and availability), fills the cart, applies WELCOME10,
// changes a quantity and removes a line. Then, in the same browser, another shop's host shows
// none of it, and tinashop's cart is still there (the cookies are host-only); the guest then
// checks out with the test card and sees the order number.
//
// Demo data (src/demo.rs): Classic Crew Tee costs 159.000 ₫ + 10.000 ₫ per variant in option
// order (Size S M L XL × Colour White Black Navy); its S / White has no stock; the compare-at
// price is 198.750 ₫. Canvas Tote has one variant at 99.000 ₫.

import assert from 'node:assert/strict';
import { eventually, expectText, shopUrl, test, textOf } from '../lib/harness.mjs';
import {
  addToCart,
  applyCode,
  goToCheckout,
  placeOrder,
  cartCount,
  cartLine,
  changeQuantity,
  chooseOptions,
  heading,
  lineOf,
  offer,
  productLink,
  removeLine,
  searchBox,
  summary,
} from '../lib/storefront.mjs';

test('a guest finds a product with a typo, picks a variant and works the cart (JavaScript on)', async (t) => {
  const guest = await t.visitor({ label: 'guest' });
  const page = await guest.open('/');
  assert.equal(await cartCount(page), 0);

  // Suggestions as the customer types (site.js fills the datalist), typo and all.
  await searchBox(page).fill('clasic');
  await eventually(async () => {
    const names = await page.locator('#suggestions option').evaluateAll((options) => options.map((o) => o.value));
    assert.ok(names.includes('Classic Crew Tee'), `suggestions: ${names.join(', ')}`);
  });
  await guest.submit(() => searchBox(page).press('Enter'));
  assert.equal(new URL(page.url()).searchParams.get('q'), 'clasic');
  await expectText(heading(page), 'Results for “clasic”');
  await guest.submit(productLink(page, 'Classic Crew Tee'));

  // The product page starts on the first variant in stock (S / Black).
  await expectText(heading(page), 'Classic Crew Tee');
  assert.deepEqual(await offer(page), { price: '169.000 ₫', compareAt: '198.750 ₫', availability: 'In stock' });
  // site.js shows the chosen variant's price and availability.
  await chooseOptions(page, { Size: 'S', Colour: 'White' });
  await expectText(page.locator('[data-availability]'), 'Sold out');
  assert.equal((await offer(page)).price, '159.000 ₫');
  await chooseOptions(page, { Size: 'L', Colour: 'Navy' });
  await expectText(page.locator('[data-price]'), '239.000 ₫');
  await expectText(page.locator('[data-availability]'), 'In stock');

  await addToCart(guest, 2);
  await expectText(heading(page), 'Your cart');
  assert.equal(await cartCount(page), 2);
  assert.deepEqual(await lineOf(page, 'Classic Crew Tee'), {
    item: 'Classic Crew Tee L / Navy',
    price: 239000,
    quantity: 2,
    total: 478000,
  });

  // A second product, then the discount code.
  await guest.open('/products/canvas-tote');
  await addToCart(guest, 1);
  assert.equal(await cartCount(page), 3);
  const before = await summary(page);
  assert.equal(before.Subtotal, 577000);
  assert.equal(before.Discount, undefined);
  await applyCode(guest, 'WELCOME10');
  await expectText(page.getByText(/^Code WELCOME10 applied\./), /Code WELCOME10 applied\./);
  const discounted = await summary(page);
  assert.equal(discounted.Discount, -57700, JSON.stringify(discounted));
  assert.ok(discounted.Total < before.Total, `total ${discounted.Total} after the code, ${before.Total} before`);

  // Quantities: 3 tees, then no tote.
  await changeQuantity(guest, 'Classic Crew Tee', 3);
  assert.equal((await lineOf(page, 'Classic Crew Tee')).total, 717000);
  assert.equal(await cartCount(page), 4);
  await removeLine(guest, 'Canvas Tote');
  assert.equal(await cartLine(page, 'Canvas Tote').count(), 0);
  assert.equal(await cartCount(page), 3);
  const after = await summary(page);
  assert.equal(after.Subtotal, 717000);
  assert.equal(after.Discount, -71700);

  // Another shop in the same browser: its own (empty) cart, nothing of tinashop.
  const other = await guest.open('/', { shop: 'micocah' });
  assert.equal(await cartCount(other), 0);
  await guest.open('/cart', { shop: 'micocah' });
  await expectText(page.getByRole('main').getByText('Your cart is empty.'), 'Your cart is empty.');
  const text = await textOf(page.locator('body'));
  for (const name of ['Tina Shop', 'Classic Crew Tee', 'Canvas Tote', 'WELCOME10 applied']) {
    assert.ok(!text.includes(name), `micocah's cart page shows "${name}"`);
  }
  // The cookies of each shop stay on its own host.
  const cookies = await guest.cookies();
  const tinaHost = new URL(shopUrl('tinashop')).hostname;
  const micoHost = new URL(shopUrl('micocah')).hostname;
  const cart = cookies.filter((c) => c.name === 'sf_cart');
  assert.deepEqual(cart.map((c) => c.domain), [tinaHost], 'one cart cookie, for tinashop only');
  for (const cookie of cookies) {
    assert.ok([tinaHost, micoHost].includes(cookie.domain), `host-only cookie ${cookie.name} on ${cookie.domain}`);
    assert.ok(cookie.httpOnly, `${cookie.name} is HttpOnly`);
    assert.equal(cookie.sameSite, 'Lax');
  }

  // Back on tinashop, the cart is as it was.
  await guest.open('/cart');
  assert.equal(await cartCount(page), 3);
  assert.equal((await lineOf(page, 'Classic Crew Tee')).quantity, 3);
  await expectText(page.getByText(/^Code WELCOME10 applied\./), /Code WELCOME10 applied\./);

  // And checks out with the test card: the order's number, and the discounted items in it.
  await goToCheckout(guest);
  const title = await placeOrder(guest, { email: 'guest@example.com' });
  assert.match(title, /^Order #\d+$/);
  assert.ok((await textOf(page.getByRole('main'))).includes('Classic Crew Tee'), 'the order lists the tee');
});

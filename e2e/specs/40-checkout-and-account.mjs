// Checkout and accounts in the browser: a guest checks out with the test card and sees the
// order number and, after the gateway's call-back, "Paid"; a customer signs up, buys, and
// finds the order in their account, while another shop's host in the same browser knows
// nothing of the session; signed out, the header offers "Sign in" again. The new
// page types (checkout, order, sign-in, sign-up, account, the platform's landing page) pass
// axe-core like the others.

import assert from 'node:assert/strict';
import { config, eventually, expectText, test, textOf } from '../lib/harness.mjs';
import { addToCart, goToCheckout, heading, placeOrder } from '../lib/storefront.mjs';

test('a guest checks out with the test card and follows the order to paid', async (t) => {
  const guest = await t.visitor({ label: 'guest', bypassCSP: true });
  const page = guest.page;
  await guest.open('/products/canvas-tote');
  await addToCart(guest, 1);
  await goToCheckout(guest);
  await t.scan(guest, 'checkout');
  const title = await placeOrder(guest, { email: 'guest@example.com' });
  assert.match(title, /^Order #\d+$/);
  await t.scan(guest, 'order');
  // The gateway answers through the outbox; the status page shows it on the next visit.
  await eventually(async () => {
    await page.reload({ waitUntil: 'load' });
    assert.equal(await textOf(page.locator('.status strong')), 'Paid');
  }, 20_000);
  // The cart was checked out.
  await guest.open('/cart');
  await expectText(page.getByRole('main').getByText('Your cart is empty.'), 'Your cart is empty.');
});

test('a customer signs up, buys, and finds the order in their account', async (t) => {
  const customer = await t.visitor({ label: 'customer', bypassCSP: true });
  const page = customer.page;
  await customer.open('/account/login');
  await t.scan(customer, 'sign-in');
  await customer.submit(page.getByRole('link', { name: 'Create an account' }));
  await t.scan(customer, 'sign-up');
  const email = `e2e-${Date.now()}@example.com`;
  await page.getByLabel('First name').fill('Mai');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('a-long-passphrase');
  await customer.submit(page.getByRole('button', { name: 'Create an account' }));
  await expectText(heading(page), 'Your account');
  await expectText(page.getByText(/^Signed in as/), `Signed in as ${email}.`);

  await customer.open('/products/canvas-tote');
  await addToCart(customer, 2);
  await goToCheckout(customer);
  assert.ok((await textOf(page.getByRole('main'))).includes(email), 'checkout uses the account e-mail');
  const title = await placeOrder(customer);
  const number = title.replace('Order ', '');

  await customer.open('/account');
  await t.scan(customer, 'account');
  assert.ok(await page.getByRole('link', { name: number }).isVisible(), `${number} in the account`);
  // Signed in on tinashop is nothing on micocah: the same browser is a stranger there.
  await customer.open('/', { shop: 'micocah' });
  assert.ok(await page.getByRole('link', { name: 'Sign in' }).isVisible(), 'micocah offers to sign in');
  await customer.open('/account', { shop: 'micocah' });
  assert.equal(new URL(page.url()).pathname, '/account/login');
  await customer.open('/account');
  await customer.submit(page.getByRole('button', { name: 'Sign out' }));
  assert.ok(await page.getByRole('link', { name: 'Sign in' }).isVisible());
  await customer.open('/account/login');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('a-long-passphrase');
  await customer.submit(page.getByRole('button', { name: 'Sign in' }));
  assert.ok(await page.getByRole('link', { name: number }).isVisible(), 'the order is still there');
});

test('the platform host shows its sign-up page', async (t) => {
  const visitor = await t.visitor({ label: 'owner-to-be', bypassCSP: true });
  const url = `http://${config.baseDomain}:${config.port}/`;
  const response = await visitor.page.goto(url, { waitUntil: 'load' });
  assert.equal(response.status(), 200);
  await expectText(heading(visitor.page), 'shopfleet: your shop online in a minute');
  await t.scan(visitor, 'landing');
});

// What the storefront's pages show, found the way a person (or a screen reader) finds it: by
// role and accessible name, in the theme's English texts (themes/default/locales/en.toml).
// Checkout and account specs add their pages' helpers here.

import assert from 'node:assert/strict';
import { amount, textOf } from './harness.mjs';

/** The header's cart link (`Cart (3)`). */
export function cartLink(page) {
  return page.getByRole('navigation', { name: 'Your shop links' }).getByRole('link', { name: /^Cart \(\d+\)$/ });
}

/** The number of items the header's cart link shows. */
export async function cartCount(page) {
  const text = await textOf(cartLink(page));
  return Number(text.match(/\((\d+)\)/)[1]);
}

export function searchBox(page) {
  // A search input with a datalist (the suggestions) is a combobox.
  return page.getByRole('combobox', { name: 'Search products' });
}

/** Types `text` into the header's search box and sends it with the button. */
export async function search(visitor, text) {
  await searchBox(visitor.page).fill(text);
  await visitor.submit(visitor.page.getByRole('button', { name: 'Search', exact: true }));
}

/** A product card's link in a listing (home, category, search). */
export function productLink(page, name) {
  return page.getByRole('main').getByRole('link', { name, exact: true });
}

export function heading(page) {
  return page.getByRole('heading', { level: 1 });
}

/** On a product page: what the price, compare-at price and availability lines say. */
export async function offer(page) {
  return {
    price: await textOf(page.locator('[data-price]')),
    compareAt: await textOf(page.locator('[data-compare-at]')),
    availability: await textOf(page.locator('[data-availability]')),
  };
}

/** On a product page: chooses `values` ({ Size: 'L', Colour: 'Navy' }) in the option selects. */
export async function chooseOptions(page, values) {
  for (const [option, value] of Object.entries(values)) {
    await page.getByLabel(option, { exact: true }).selectOption(value);
  }
}

/** On a product page: sets the quantity and presses "Add to cart" (lands on the cart). */
export async function addToCart(visitor, quantity = 1) {
  await visitor.page.getByLabel('Quantity', { exact: true }).fill(String(quantity));
  await visitor.submit(visitor.page.getByRole('button', { name: 'Add to cart' }));
  assert.equal(new URL(visitor.page.url()).pathname, '/cart');
}

/** On the cart page: the row of `name`. */
export function cartLine(page, name) {
  return page.getByRole('main').getByRole('row').filter({ has: page.getByRole('rowheader').filter({ hasText: name }) });
}

/** On the cart page: a line's variant, unit price, quantity and line total. */
export async function lineOf(page, name) {
  const row = cartLine(page, name);
  assert.equal(await row.count(), 1, `one cart line for ${name}`);
  const cells = row.getByRole('cell');
  return {
    item: await textOf(row.getByRole('rowheader')),
    price: amount(await textOf(cells.nth(0))),
    quantity: Number(await row.getByLabel(`Quantity of ${name}`).inputValue()),
    total: amount(await textOf(cells.nth(2))),
  };
}

/** On the cart page: sets a line's quantity with its Update button. */
export async function changeQuantity(visitor, name, quantity) {
  const row = cartLine(visitor.page, name);
  await row.getByLabel(`Quantity of ${name}`).fill(String(quantity));
  await visitor.submit(row.getByRole('button', { name: 'Update' }));
}

/** On the cart page: removes a line with its Remove button. */
export async function removeLine(visitor, name) {
  await visitor.submit(visitor.page.getByRole('button', { name: `Remove ${name}` }));
}

/** On the cart page: applies a discount code. */
export async function applyCode(visitor, code) {
  await visitor.page.getByLabel('Discount code').fill(code);
  await visitor.submit(visitor.page.getByRole('button', { name: 'Apply' }));
}

/** On the cart page: the summary's amounts by label ({ Subtotal, Discount, Total, … }), as
 *  whole numbers of minor units (a discount is negative). */
export async function summary(page) {
  const terms = await page.locator('.summary dt').allInnerTexts();
  const values = await page.locator('.summary dd').allInnerTexts();
  assert.equal(terms.length, values.length);
  return Object.fromEntries(terms.map((term, i) => [term.trim(), amount(values[i])]));
}

/** On the cart page: follows "Check out" to the checkout form. */
export async function goToCheckout(visitor) {
  await visitor.submit(visitor.page.getByRole('link', { name: 'Check out' }));
  assert.equal(new URL(visitor.page.url()).pathname, '/checkout');
}

/** On the checkout page: fills the address (and the e-mail of a guest) and pays with the test
 *  card; returns the order page's heading (`Order #1001`). */
export async function placeOrder(visitor, { email, card = '4242 4242 4242 4242' } = {}) {
  const page = visitor.page;
  if (email) await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Full name').fill('Lan Nguyen');
  await page.getByLabel('Street and number').fill('12 Hang Bac');
  await page.getByLabel('City').fill('Hanoi');
  await page.getByLabel('Postal code').fill('100000');
  await page.getByLabel('Country').fill('VN');
  await page.getByLabel('Card', { exact: true }).check();
  await page.getByLabel('Card number').fill(card);
  await visitor.submit(page.getByRole('button', { name: /^Place order/ }));
  assert.match(new URL(page.url()).pathname, /^\/orders\/\d+$/);
  return textOf(heading(page));
}

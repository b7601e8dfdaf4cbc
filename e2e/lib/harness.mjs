// The small layer the specs are written in. A spec file registers tests with `test(name, fn)`;
// each test gets `t`, with:
//   t.visitor({ shop, javaScript, bypassCSP, label })  a browser context of its own (cookies,
//                                                       cart) with one page: a Visitor
//   t.scan(visitor, name)                               an axe-core scan of the visitor's page;
//                                                       fails on serious or critical violations
// and a Visitor has:
//   visitor.open(path, { shop, status })   go to a page of a shop (default: the visitor's shop)
//                                          and check the answer's status (default 200)
//   visitor.submit(locator, { status })    click what sends a form or follows a link (or run a
//                                          function that does), and wait for the page it leads to
//   visitor.page                           the playwright Page, for locators and assertions
//   visitor.url(path, shop)                the full URL of a shop's page
// Every page of every visitor is watched: a console error or an uncaught page error fails the
// test (except the browser's own report of the status a test expected, e.g. a 404 page). When a
// test fails, each visitor's page is saved (screenshot and HTML) under the output directory.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');

export const config = {
  baseDomain: process.env.E2E_BASE_DOMAIN || 'shops.localhost',
  port: process.env.E2E_PORT || '29790',
  output: process.env.E2E_OUTPUT || join(process.cwd(), 'e2e-output'),
  /** Actions and assertions wait this long (ms) for the page. */
  actionTimeout: Number(process.env.E2E_ACTION_TIMEOUT_MS || 10_000),
  /** A whole test gets this long (ms). */
  testTimeout: Number(process.env.E2E_TEST_TIMEOUT_MS || 120_000),
};

const tests = [];
/** Every scan's findings, for the summary. */
export const scans = [];

/** Registers a test; `fn(t)` runs with a fresh set of visitors. */
export function test(name, fn) {
  tests.push({ name, fn });
}

/** The full URL of `path` on `shop`'s host. */
export function shopUrl(shop, path = '/') {
  return `http://${shop}.${config.baseDomain}:${config.port}${path}`;
}

/** Retries `check` (which throws while not yet true) until it passes or `timeout` ms pass. */
export async function eventually(check, timeout = config.actionTimeout) {
  const until = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The visible text of `locator`, whitespace collapsed. */
export async function textOf(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/** Waits until `locator`'s text equals (string) or matches (RegExp) `expected`. */
export async function expectText(locator, expected) {
  await eventually(async () => {
    const text = await textOf(locator);
    if (expected instanceof RegExp) assert.match(text, expected);
    else assert.equal(text, expected);
  });
}

/** The whole number an amount shows (`478.000 ₫` → 478000, `$12.50` → 1250). */
export function amount(text) {
  const digits = text.replace(/[^0-9-]/g, '');
  assert.ok(digits.length > 0, `no amount in "${text}"`);
  return Number(digits);
}

export class Visitor {
  constructor(t, context, page, { shop, label }) {
    this.t = t;
    this.context = context;
    this.page = page;
    this.shop = shop;
    this.label = label;
  }

  url(path = '/', shop = this.shop) {
    return shopUrl(shop, path);
  }

  /** Opens `path` on `shop` and checks the status of the answer. */
  async open(path = '/', { shop = this.shop, status = 200 } = {}) {
    const url = this.url(path, shop);
    this.t.expectStatus(url, status);
    const response = await this.page.goto(url, { waitUntil: 'load' });
    assert.ok(response, `no response for ${url}`);
    assert.equal(response.status(), status, `${url} answered ${response.status()}`);
    return this.page;
  }

  /** Clicks `action` (a locator: a submit button or a link; or a function that acts) and waits
   *  for the page it leads to, which must answer `status` (after any redirect). */
  async submit(action, { status = 200 } = {}) {
    const page = this.page;
    const answered = page.waitForResponse(
      (r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && (r.status() < 300 || r.status() >= 400),
    );
    const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
    // If the action itself fails, these must not reject unhandled and end the whole run.
    answered.catch(() => {});
    navigated.catch(() => {});
    await (typeof action === 'function' ? action() : action.click());
    const [response] = await Promise.all([answered, navigated]);
    this.t.expectStatus(response.url(), status);
    assert.equal(response.status(), status, `${response.url()} answered ${response.status()}`);
    await page.waitForLoadState('load');
    return page;
  }

  /** The cookies this visitor's browser holds. */
  async cookies() {
    return this.context.cookies();
  }
}

class TestRun {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.visitors = [];
    this.problems = [];
    this.expected = [];
  }

  async visitor({ shop = 'tinashop', javaScript = true, bypassCSP = false, label } = {}) {
    const context = await this.browser.newContext({
      javaScriptEnabled: javaScript,
      bypassCSP,
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(config.actionTimeout);
    context.setDefaultNavigationTimeout(config.actionTimeout * 2);
    const page = await context.newPage();
    const name = label || `visitor-${this.visitors.length + 1}`;
    page.on('console', (msg) => {
      if (msg.type() === 'error') {
        this.problems.push({ visitor: name, kind: 'console error', text: msg.text(), url: msg.location().url, page: page.url() });
      }
    });
    page.on('pageerror', (err) => {
      this.problems.push({ visitor: name, kind: 'page error', text: String(err && err.stack ? err.stack : err), page: page.url() });
    });
    const visitor = new Visitor(this, context, page, { shop, label: name });
    this.visitors.push(visitor);
    return visitor;
  }

  /** The browser reports an error status of a page as a console error; one the test asked
   *  for is not a problem. */
  expectStatus(url, status) {
    if (status >= 400) this.expected.push({ url, status });
  }

  unexpectedProblems() {
    return this.problems.filter(
      (p) =>
        !(
          p.kind === 'console error' &&
          this.expected.some((e) => e.url === p.url && p.text.includes(`status of ${e.status}`))
        ),
    );
  }

  /** An axe-core scan of `visitor`'s page (its context needs `bypassCSP`: the pages allow only
   *  their own scripts). Fails on serious or critical violations; the full findings go to
   *  <output>/axe/<name>.json. */
  async scan(visitor, name) {
    const page = visitor.page;
    await page.addScriptTag({ path: AXE_PATH });
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ['violations'] });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target, html: n.html, summary: n.failureSummary })),
      }));
    });
    const dir = join(config.output, 'axe');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ url: page.url(), violations }, null, 2));
    const severe = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    scans.push({ name, url: page.url(), severe: severe.length, other: violations.filter((v) => !severe.includes(v)).map((v) => `${v.id} (${v.impact})`) });
    if (severe.length > 0) {
      const lines = severe.flatMap((v) => [
        `  ${v.impact}: ${v.id}: ${v.help} (${v.helpUrl})`,
        ...v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.html}\n      ${(n.summary || '').replace(/\n/g, '\n      ')}`),
      ]);
      throw new Error(`axe-core found ${severe.length} serious or critical violation(s) on ${name} (${page.url()}):\n${lines.join('\n')}`);
    }
  }

  /** Saves every visitor's page as it is now; returns the files. */
  async saveEvidence() {
    const dir = join(config.output, slug(this.name));
    mkdirSync(dir, { recursive: true });
    const files = [];
    for (const visitor of this.visitors) {
      const base = join(dir, slug(visitor.label));
      try {
        await visitor.page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 10_000 });
        files.push(`${base}.png`);
        writeFileSync(`${base}.html`, `<!-- ${visitor.page.url()} -->\n${await visitor.page.content()}`);
        files.push(`${base}.html`);
      } catch (err) {
        files.push(`${base}: could not be saved (${err.message.split('\n')[0]})`);
      }
    }
    return files;
  }

  async close() {
    for (const visitor of this.visitors) await visitor.context.close().catch(() => {});
  }
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
}

/** Runs every registered test (those whose name contains `only`, when given) in order;
 *  returns { passed, failed }. */
export async function runTests(browser, { only } = {}) {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of tests) {
    if (only && !name.includes(only)) continue;
    const run = new TestRun(browser, name);
    const started = Date.now();
    let error = null;
    let timer;
    try {
      await Promise.race([
        fn(run),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${config.testTimeout / 1000} s`)), config.testTimeout);
        }),
      ]);
      const problems = run.unexpectedProblems();
      if (problems.length > 0) {
        error = new Error(
          `errors in the browser:\n${problems.map((p) => `  [${p.visitor}] ${p.kind} on ${p.page}: ${p.text}${p.url ? ` (${p.url})` : ''}`).join('\n')}`,
        );
      }
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(timer);
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (error) {
      failed += 1;
      const files = await run.saveEvidence();
      console.log(`FAIL ${name} (${seconds} s)`);
      console.log(`  ${String(error.stack || error).replace(/\n/g, '\n  ')}`);
      if (!String(error.message || '').startsWith('errors in the browser')) {
        for (const p of run.unexpectedProblems()) console.log(`  also: [${p.visitor}] ${p.kind} on ${p.page}: ${p.text}${p.url ? ` (${p.url})` : ""}`);
      }
      console.log(`  saved: ${files.join('\n         ')}`);
    } else {
      passed += 1;
      console.log(`ok   ${name} (${seconds} s)`);
    }
    await run.close();
  }
  return { passed, failed };
}

// Runs the browser end-to-end tests (specs/*.mjs, in name order) against a running server:
// scripts/e2e.sh starts one with the demo shops and calls this. Environment:
//   E2E_PORT (29790), E2E_BASE_DOMAIN (shops.localhost): where the shops are
//   E2E_OUTPUT: where failures' screenshots and the axe-core reports go
//   E2E_CHROMIUM (/usr/bin/chromium), E2E_ONLY (run the tests whose name contains it)
// Prints one line per test and "e2e: N passed, M failed"; exits 1 on any failure.

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startChromium } from './lib/browser.mjs';
import { config, runTests, scans } from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
for (const file of readdirSync(join(here, 'specs')).filter((f) => f.endsWith('.mjs')).sort()) {
  await import(pathToFileURL(join(here, 'specs', file)).href);
}

const { browser, version, stop } = await startChromium(process.env.E2E_CHROMIUM || '/usr/bin/chromium');
console.log(`Chromium ${version}; shops at ${config.baseDomain}:${config.port}; output in ${config.output}`);
let outcome;
try {
  outcome = await runTests(browser, { only: process.env.E2E_ONLY });
} finally {
  await stop();
}
for (const scan of scans) {
  const other = scan.other.length ? `; also ${scan.other.join(', ')}` : '';
  console.log(`axe ${scan.name}: ${scan.severe} serious or critical${other}`);
}
console.log(`e2e: ${outcome.passed} passed, ${outcome.failed} failed`);
process.exit(outcome.failed > 0 || outcome.passed === 0 ? 1 : 0);

// Debian's Chromium, started by us with exactly the flags of issue 10 and a fresh profile, then
// driven by playwright-core over the DevTools protocol. (playwright's own `launch` adds flags of
// its own and refuses `--user-data-dir`; starting the browser ourselves keeps the command line
// what we say it is. `--remote-debugging-port=0` is the one addition: the way in.)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The flags every run uses: also those of scripts/lighthouse.sh. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts Chromium (`executable`, default /usr/bin/chromium) with a fresh temporary profile and
 * connects to it. Returns `{ browser, version, stop }`; `stop()` ends the process and deletes the
 * profile.
 */
export async function startChromium(executable = '/usr/bin/chromium') {
  const profile = mkdtempSync(join(tmpdir(), 'shopfleet-e2e-profile-'));
  const args = [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'];
  const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium did not start in 30 s:\n${log}`)), 30_000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before listening:\n${log}`));
    });
  });
  const browser = await chromium.connectOverCDP(endpoint);
  const stop = async () => {
    await browser.close().catch(() => {});
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    // Chromium's helper processes may still write to the profile for a moment after the
    // browser exits: retry, and never fail a finished run over a temporary directory.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch (err) {
      console.warn(`could not remove the browser profile ${profile}: ${err.message}`);
    }
  };
  return { browser, version: browser.version(), stop };
}

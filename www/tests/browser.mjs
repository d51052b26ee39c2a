// Headless Debian Chromium through playwright-core (flags from docs toolchain.md §3), and a tiny
// runner: every test gets a fresh page; a test fails on an assertion, or on any console error or
// uncaught exception in its page (a test may name the few it provokes on purpose).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { WWW } from './server.mjs';

export const SHOTS = path.resolve(WWW, '..', 'target', 'www');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_BIN)`);
  mkdirSync(SHOTS, { recursive: true });
  const profile = mkdtempSync(path.join(tmpdir(), 'iys-www-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 900 },
    locale: 'tr-TR',
    timezoneId: 'Europe/Istanbul',
  });
  context.setDefaultTimeout(30_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens `url` in a new page; `problems` collects console errors and uncaught exceptions. `init`
 * (`{ script, arg }`) runs in the page before any of its own scripts. */
export async function open(context, url, init) {
  const page = await context.newPage();
  if (init) await page.addInitScript(init.script, init.arg);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems };
}

/** Runs the tests in order; resolves to the number of failures. */
export async function runAll(tests, context) {
  let failed = 0;
  for (const { name, fn, allow = [] } of tests) {
    const pages = [];
    const openTracked = async (url, init) => {
      const p = await open(context, url, init);
      pages.push(p);
      return p;
    };
    try {
      await fn(openTracked);
      const problems = pages.flatMap((p) => p.problems).filter((m) => !allow.some((re) => re.test(m)));
      if (problems.length > 0) throw new Error(`the page logged errors:\n${problems.join('\n')}`);
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
    } finally {
      for (const p of pages) await p.page.close();
    }
  }
  return failed;
}

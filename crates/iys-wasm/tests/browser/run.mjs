// The browser suite: serves the package and the fixtures on 127.0.0.1, loads tests/browser/page.html
// in headless Debian Chromium (driven by playwright-core), and checks that the page got the same
// answer as Node for every fixture case, and that every case agrees with its fixture.
// Usage: node crates/iys-wasm/tests/browser/run.mjs   (after `cargo xtask npm`)
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as node from 'iys-validate';
import { start } from './server.mjs';
import { judgeAll } from '../js/corpus.mjs';
import { loadFixtures } from '../js/fixtures.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error(`browser suite: ${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_BIN)`);
  process.exit(1);
}

const server = await start();
const profile = mkdtempSync(path.join(tmpdir(), 'iys-chromium-'));
let context;
let failed = 0;
let passed = 0;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(`${server.url}/tests/browser/page.html`);
  await page.waitForFunction(() => window.__corpus !== undefined, null, { timeout: 60_000 });
  const got = await page.evaluate(() => window.__corpus);
  if (got.error) throw new Error(`the page failed: ${got.error}`);
  assert.deepEqual(pageErrors, [], 'no errors in the page');

  const check = (name, fn) => {
    try {
      fn();
      passed++;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String(e.message).split('\n').join('\n  ')}`);
    }
  };
  check('calls before init() throw E_NOT_READY', () => assert.equal(got.notReady, 'E_NOT_READY'));
  check('init() then a first answer', () => assert.equal(got.firstOk, true));
  console.log(`# init() (fetch + compile + instantiate) to first answer in Chromium: ${got.initToFirstAnswerMs.toFixed(2)} ms`);

  const inNode = judgeAll(node, loadFixtures());
  check('the page ran every fixture case', () => assert.equal(got.results.length, inNode.length));
  for (let i = 0; i < Math.min(got.results.length, inNode.length); i++) {
    const b = got.results[i];
    const n = inNode[i];
    check(`${b.file} ${b.name}`, () => {
      assert.equal(`${b.file} ${b.name}`, `${n.file} ${n.name}`);
      assert.deepEqual(b.answer, n.answer, 'the browser and Node give the same answer');
      assert.deepEqual(b.problems, [], b.problems.join('\n'));
    });
  }
} finally {
  if (context) await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

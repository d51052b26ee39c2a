// End to end: the sign-up form as the Worker's static assets serve it in `wrangler dev`, submitted
// to the relay's demo route (POST /demo/consents), with iys-sim standing in for IYS; the consents
// must then be stored in the sim. The playground must load from the Worker too.
// Needs a running stack (the harness that starts `wrangler dev` with IYS_BASE_URL = the sim):
//   IYS_RELAY_URL=http://127.0.0.1:8787 IYS_SIM_URL=http://127.0.0.1:41234 node www/tests/submit.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch, runAll, SHOTS } from './browser.mjs';

const relay = (process.env.IYS_RELAY_URL || '').replace(/\/+$/, '');
const sim = (process.env.IYS_SIM_URL || '').replace(/\/+$/, '');
if (!relay || !sim) {
  console.error('submit.mjs: set IYS_RELAY_URL (wrangler dev) and IYS_SIM_URL (iys-sim)');
  process.exit(2);
}

async function simConsents() {
  const res = await fetch(`${sim}/__sim/consents`);
  assert.equal(res.status, 200, 'GET /__sim/consents');
  return res.json();
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
// A fresh address each run, so the sim's earlier records cannot answer for this one.
const email = `web-${Date.now().toString(36)}@example.com`;

test('submit: the form served by the Worker records MESAJ, ARAMA and EPOSTA consents in iys-sim', async (open) => {
  const { page } = await open(`${relay}/`);
  const posted = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/demo/consents') posted.push(JSON.parse(r.postData()));
  });
  await page.fill('#name', 'Ayşe Yılmaz');
  await page.locator('#phone').pressSequentially('0532 123 45 67');
  assert.equal(await page.textContent('#phone-normalized'), '+90 532 123 45 67');
  await page.locator('#email').pressSequentially(email);
  await page.check('#consent-mesaj');
  await page.check('#consent-arama');
  await page.check('#consent-eposta');
  await page.click('#submit');
  await page.waitForSelector('#result[data-outcome]:not([data-outcome="invalid"])', { timeout: 60_000 });
  const outcome = await page.getAttribute('#result', 'data-outcome');
  assert.equal(outcome, 'ok', `outcome ${outcome}: ${await page.textContent('#result')}`);
  await page.screenshot({ path: path.join(SHOTS, 'index-submitted.png'), fullPage: true });

  assert.equal(posted.length, 1);
  const sent = posted[0].consents;
  assert.deepEqual(sent.map((c) => [c.type, c.recipient]), [['MESAJ', '+905321234567'], ['ARAMA', '+905321234567'], ['EPOSTA', email]]);

  // Queued items reach the sim a little later: look until they are there (or the deadline passes).
  const deadline = Date.now() + 60_000;
  let found = [];
  for (;;) {
    const all = await simConsents();
    found = sent.map((c) => all.find((s) => s.recipient === c.recipient && s.type === c.type && s.consentDate === c.consentDate));
    if (found.every(Boolean) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const [i, c] of sent.entries()) {
    const s = found[i];
    assert.ok(s, `iys-sim has no ${c.type} consent for ${c.recipient} dated ${c.consentDate}`);
    assert.equal(s.status, 'ONAY');
    assert.equal(s.source, 'HS_WEB');
    assert.equal(s.recipientType, 'BIREYSEL');
  }
});

/** Makes the page's clock run `ms` ahead of the real one (`Date.now()` and `new Date()`). */
function skewClock(ms) {
  const Real = Date;
  const now = () => Real.now() + ms;
  class Skewed extends Real {
    constructor(...args) {
      if (args.length === 0) super(now());
      else super(...args);
    }
    static now() {
      return now();
    }
  }
  globalThis.Date = Skewed;
}

test('submit: a device clock 5 minutes ahead still records the consent, dated at the relay\'s time', async (open) => {
  const { page } = await open(`${relay}/`, { script: skewClock, arg: 5 * 60_000 });
  const posted = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/demo/consents') posted.push(JSON.parse(r.postData()));
  });
  const digits = String(Date.now() % 10_000_000).padStart(7, '0');
  await page.fill('#name', 'Mehmet Öz');
  await page.locator('#phone').pressSequentially(`0533 ${digits}`);
  await page.check('#consent-mesaj');
  await page.click('#submit');
  await page.waitForSelector('#result[data-outcome]:not([data-outcome="invalid"])', { timeout: 60_000 });
  const outcome = await page.getAttribute('#result', 'data-outcome');
  assert.equal(outcome, 'ok', `outcome ${outcome}: ${await page.textContent('#result')}`);
  // The first POST was dated by the device (in the relay's future); the second at the relay's time.
  assert.equal(posted.length, 2);
  const [first, second] = posted.map((p) => p.consents[0]);
  assert.ok(second.consentDate < first.consentDate, `${second.consentDate} < ${first.consentDate}`);
  const deadline = Date.now() + 60_000;
  let stored;
  for (;;) {
    stored = (await simConsents()).find((c) => c.recipient === second.recipient && c.type === 'MESAJ');
    if (stored || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(stored, `iys-sim has no MESAJ consent for ${second.recipient}`);
  assert.equal(stored.consentDate, second.consentDate);
});

test('submit: the playground loads from the Worker\'s static assets', async (open) => {
  const { page } = await open(`${relay}/playground.html`);
  await page.click('#sample-consent');
  assert.equal(await page.getAttribute('#summary', 'data-state'), 'ok');
});

const browser = await launch();
let failed;
try {
  failed = await runAll(tests, browser.context);
} finally {
  await browser.close();
}
console.log(`www submit: ${tests.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

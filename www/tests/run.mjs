// The browser suite for www/: serves www/ as plain static files on 127.0.0.1, drives the pages in
// headless Debian Chromium (playwright-core) and writes screenshots to target/www/*.png.
// The relay's demo route is answered here by the test (page.route) so the page's side of the
// contract is checked without a Worker; submit.mjs runs the same form against wrangler dev + iys-sim.
// Usage: node www/tests/run.mjs   (after the package is built and copied to www/pkg/)
import assert from 'node:assert/strict';
import path from 'node:path';
import { start } from './server.mjs';
import { launch, runAll, SHOTS } from './browser.mjs';

const server = await start();
const browser = await launch();
const tests = [];
const test = (name, opts, fn) => tests.push(fn ? { name, ...opts, fn } : { name, fn: opts });

/** The package's own answer in the page (the same module instance the page uses). */
function pkg(page, fn, ...args) {
  return page.evaluate(async ([fn, args]) => {
    const m = await import(new URL('pkg/index.js', location.href).href);
    return m[fn](...args);
  }, [fn, args]);
}

/** What the page shows under a control: [{ code, severity, message }]. */
function shown(page, msgId) {
  return page.$$eval(`#${msgId} span`, (els) => els.map((e) => ({ code: e.dataset.code, severity: e.dataset.severity, message: e.textContent })));
}

/** The package's diagnostics as the page shows them (the `recipient/normalized` note is replaced by the display). */
function expected(result) {
  return [...result.errors, ...result.warnings.filter((w) => w.code !== 'recipient/normalized')]
    .map((d) => ({ code: d.code, severity: d.severity, message: d.message }));
}

async function retype(page, selector, text) {
  await page.fill(selector, '');
  await page.locator(selector).pressSequentially(text);
}

const attr = (page, sel, name) => page.getAttribute(sel, name);

/** Answers POST /demo/consents with `answer(body)`; returns the list of request bodies seen. */
async function fakeRelay(page, answer) {
  const seen = [];
  await page.route('**/demo/consents', async (route) => {
    const body = JSON.parse(route.request().postData());
    seen.push({ body, headers: route.request().headers() });
    await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(answer(body)) });
  });
  return seen;
}

const savedAll = (body) => ({ items: body.consents.map((_, index) => ({ index, ok: true, status: 200 })) });

test('form: every control has a label, a live message element and aria-describedby pointing at it', async (open) => {
  const { page } = await open(`${server.url}/`);
  for (const id of ['name', 'phone', 'email', 'consent-mesaj', 'consent-arama', 'consent-eposta']) {
    assert.equal(await page.locator(`label[for="${id}"]`).count(), 1, `label for #${id}`);
  }
  for (const id of ['name', 'phone', 'email']) {
    const described = (await attr(page, `#${id}`, 'aria-describedby')).split(' ');
    assert.ok(described.includes(`${id}-msg`), `#${id} aria-describedby ${described}`);
    assert.equal(await attr(page, `#${id}-msg`, 'aria-live'), 'polite');
  }
  assert.equal(await attr(page, '#consents', 'aria-describedby'), 'consents-msg');
  assert.equal(await attr(page, '#consents-msg', 'aria-live'), 'polite');
  assert.equal(await page.getAttribute('html', 'lang'), 'tr');
  assert.equal(await page.textContent('label[for="phone"]'), 'Cep telefonu');
});

test('form: the phone is shown normalised as it is typed', async (open) => {
  const { page } = await open(`${server.url}/`);
  await page.locator('#phone').pressSequentially('0532 123 45 67');
  assert.equal(await page.textContent('#phone-normalized'), '+90 532 123 45 67');
  assert.equal(await attr(page, '#phone', 'aria-invalid'), null);
  assert.deepEqual(await shown(page, 'phone-msg'), []);
  await retype(page, '#phone', '+90 (532) 123-4567');
  assert.equal(await page.textContent('#phone-normalized'), '+90 532 123 45 67');
});

test('form: live messages in Turkish, then in English after the switch', async (open) => {
  const { page } = await open(`${server.url}/`);
  await page.locator('#phone').pressSequentially('0532 123 45 6');
  const phoneTr = await shown(page, 'phone-msg');
  assert.deepEqual(phoneTr.map((d) => d.code), ['recipient/phone-too-short']);
  assert.deepEqual(phoneTr, expected(await pkg(page, 'normalizeRecipient', '0532 123 45 6', { lang: 'tr' })));
  assert.match(phoneTr[0].message, /kısa/);
  assert.equal(await attr(page, '#phone', 'aria-invalid'), 'true');
  assert.equal(await page.textContent('#phone-normalized'), '—');

  await page.locator('#email').pressSequentially('ayşe@örnek.com');
  const emailTr = await shown(page, 'email-msg');
  assert.deepEqual(emailTr.map((d) => d.code), ['recipient/email-non-ascii']);
  assert.deepEqual(emailTr, expected(await pkg(page, 'normalizeRecipient', 'ayşe@örnek.com', { lang: 'tr' })));
  assert.match(emailTr[0].message, /Türkçe karakter/);
  assert.equal(await attr(page, '#email', 'aria-invalid'), 'true');

  await page.click('button[data-lang="en"]');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await attr(page, 'button[data-lang="en"]', 'aria-pressed'), 'true');
  assert.equal(await page.textContent('label[for="phone"]'), 'Mobile phone');
  assert.deepEqual(await shown(page, 'phone-msg'), expected(await pkg(page, 'normalizeRecipient', '0532 123 45 6', { lang: 'en' })));
  const emailEn = await shown(page, 'email-msg');
  assert.deepEqual(emailEn, expected(await pkg(page, 'normalizeRecipient', 'ayşe@örnek.com', { lang: 'en' })));
  assert.notEqual(emailEn[0].message, emailTr[0].message);
  assert.match(page.url(), /[?&]lang=en\b/);

  // Fixing the input clears the message and aria-invalid.
  await retype(page, '#email', 'ayse@ornek.com');
  assert.deepEqual(await shown(page, 'email-msg'), []);
  assert.equal(await attr(page, '#email', 'aria-invalid'), null);
});

test('form: ?lang=en opens in English', async (open) => {
  const { page } = await open(`${server.url}/index.html?lang=en`);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.textContent('h1'), 'Hear about our campaigns');
  assert.equal(await page.textContent('#submit'), 'Save my choices');
  await page.locator('#email').pressSequentially('ayşe@örnek.com');
  assert.match(await page.textContent('#email-msg'), /Turkish/);
  await page.click('#submit');
  await page.screenshot({ path: path.join(SHOTS, 'index-en.png'), fullPage: true });
});

test('form: an empty submit marks what is missing and moves focus to the first problem', async (open) => {
  const { page } = await open(`${server.url}/`);
  const seen = await fakeRelay(page, savedAll);
  await page.click('#submit');
  assert.equal(seen.length, 0, 'nothing is sent');
  assert.deepEqual((await shown(page, 'name-msg')).map((d) => d.message), ['Adınızı ve soyadınızı yazın.']);
  assert.deepEqual((await shown(page, 'consents-msg')).map((d) => d.message), ['En az bir kanal seçin.']);
  assert.equal(await attr(page, '#name', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'name');
  assert.equal(await attr(page, '#result', 'data-outcome'), 'invalid');
  // A channel that needs a missing recipient says so.
  await page.fill('#name', 'Ayşe Yılmaz');
  await page.check('#consent-eposta');
  await page.click('#submit');
  assert.deepEqual((await shown(page, 'email-msg')).map((d) => d.message), ['E-posta izni için e-posta adresi gerekli.']);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'email');
  assert.equal(seen.length, 0);
});

test('form: submit builds the IYS payloads and shows the relay\'s answer per consent', async (open) => {
  const { page } = await open(`${server.url}/`);
  const seen = await fakeRelay(page, (body) => ({
    items: [
      { index: 0, ok: true, status: 200 },
      { index: 1, ok: false, status: 422, errors: [{ code: 'upstream/rejected', iysCode: 'H123', severity: 'error', path: '/consents/1', message: 'IYS reddetti.', params: {} }] },
      { index: 2, ok: true, status: 202, queued: true },
    ].slice(0, body.consents.length),
  }));
  await page.fill('#name', 'Ayşe Yılmaz');
  await page.locator('#phone').pressSequentially('+905321234567');
  await page.locator('#email').pressSequentially(' ayse@ornek.com ');
  await page.check('#consent-mesaj');
  await page.check('#consent-arama');
  await page.check('#consent-eposta');
  await page.click('#submit');
  await page.waitForSelector('#result[data-outcome="partial"]');
  assert.equal(seen.length, 1);
  const { body, headers } = seen[0];
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers['accept-language'], 'tr');
  assert.deepEqual(body.consents.map((c) => [c.type, c.recipient]),
    [['MESAJ', '+905321234567'], ['ARAMA', '+905321234567'], ['EPOSTA', 'ayse@ornek.com']]);
  for (const c of body.consents) {
    assert.deepEqual(Object.keys(c).sort(), ['consentDate', 'recipient', 'recipientType', 'source', 'status', 'type']);
    assert.equal(c.recipientType, 'BIREYSEL');
    assert.equal(c.status, 'ONAY');
    assert.equal(c.source, 'HS_WEB');
    assert.match(c.consentDate, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  }
  // consentDate is now, on the wall clock in Istanbul (UTC+3 since 2016).
  const istanbul = new Date(Date.parse(`${body.consents[0].consentDate.replace(' ', 'T')}+03:00`));
  assert.ok(Math.abs(Date.now() - istanbul.getTime()) < 10 * 60 * 1000, `consentDate ${body.consents[0].consentDate} is not now in Istanbul`);
  assert.equal((await pkg(page, 'validateBatch', body.consents)).ok, true, 'the payloads pass the package');
  const items = await page.$$eval('#result li[data-type]', (els) => els.map((e) => [e.dataset.type, e.dataset.ok, e.textContent]));
  assert.deepEqual(items.map(([t, ok]) => [t, ok]), [['MESAJ', 'true'], ['ARAMA', 'false'], ['EPOSTA', 'true']]);
  assert.match(items[0][2], /Kaydedildi/);
  assert.match(items[1][2], /IYS reddetti\./);
  assert.match(items[2][2], /Sıraya alındı/);
  await page.click('button[data-lang="en"]');
  assert.match(await page.textContent('#result li[data-type="MESAJ"]'), /Saved/);
});

// Chromium itself logs a non-2xx fetch as "Failed to load resource"; this test provokes one on purpose.
test('form: a refused request shows the relay\'s errors', { allow: [/^console.error: Failed to load resource: the server responded with a status of 429\b/] }, async (open) => {
  const { page } = await open(`${server.url}/?lang=en`);
  await page.route('**/demo/consents', (route) => route.fulfill({
    status: 429, contentType: 'application/json',
    body: JSON.stringify({ errors: [{ code: 'request/rate-limited', iysCode: null, severity: 'error', path: '', message: 'Too many requests.', params: {} }] }),
  }));
  await page.fill('#name', 'Ali Veli');
  await page.locator('#email').pressSequentially('ali@example.com');
  await page.check('#consent-eposta');
  await page.click('#submit');
  await page.waitForSelector('#result[data-outcome="error"]');
  assert.match(await page.textContent('#result'), /HTTP 429.*Too many requests\./s);
  assert.equal(await page.isEnabled('#submit'), true);
});

test('form: keyboard only (Tab, Space, Enter and typing) from an empty page to a sent form, in English', async (open) => {
  const { page } = await open(`${server.url}/`);
  const seen = await fakeRelay(page, savedAll);
  const order = [];
  const tab = async () => {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { id: el.id || el.dataset.lang || el.className, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.ok(f.outline !== 'none' && f.width >= 2, `focus is visible on ${f.id}: outline ${f.outline} ${f.width}px`);
    order.push(f.id);
    return f.id;
  };
  assert.equal(await tab(), 'brand');
  assert.equal(await tab(), 'tr');
  await page.keyboard.press('Space');
  assert.equal(await page.getAttribute('html', 'lang'), 'tr');
  assert.equal(await tab(), 'en');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await attr(page, 'button[data-lang="en"]', 'aria-pressed'), 'true');
  assert.equal(await tab(), 'name');
  await page.keyboard.type('Ayşe Yılmaz');
  assert.equal(await tab(), 'phone');
  await page.keyboard.type('+905321234567');
  assert.equal(await tab(), 'email');
  await page.keyboard.type('ayse@ornek.com');
  assert.equal(await tab(), 'consent-mesaj');
  await page.keyboard.press('Space');
  assert.equal(await tab(), 'consent-arama');
  assert.equal(await tab(), 'consent-eposta');
  await page.keyboard.press('Space');
  assert.equal(await tab(), 'submit');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#result[data-outcome="ok"]');
  assert.deepEqual(seen[0].body.consents.map((c) => [c.type, c.recipient]), [['MESAJ', '+905321234567'], ['EPOSTA', 'ayse@ornek.com']]);
  assert.equal(seen[0].headers['accept-language'], 'en');
  assert.match(await page.textContent('#result'), /^Thank you!/);
  assert.equal(await tab(), 'to-playground');
  assert.deepEqual(order, ['brand', 'tr', 'en', 'name', 'phone', 'email', 'consent-mesaj', 'consent-arama', 'consent-eposta', 'submit', 'to-playground']);
});

test('form: screenshot with a normalised phone and a live message', async (open) => {
  const { page } = await open(`${server.url}/`);
  await page.fill('#name', 'Ayşe Yılmaz');
  await page.locator('#phone').pressSequentially('0532 123 45 67');
  await page.locator('#email').pressSequentially('ayşe@örnek.com');
  await page.check('#consent-mesaj');
  await page.check('#consent-eposta');
  await page.screenshot({ path: path.join(SHOTS, 'index.png'), fullPage: true });
});

// consentDate an hour ago, Istanbul wall clock (UTC+3 since 2016): inside IYS's window whenever this runs.
const recent = new Date(Date.now() + 3 * 3600e3 - 3600e3).toISOString().slice(0, 19).replace('T', ' ');
const BAD_BATCH = JSON.stringify([
  { recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: recent },
  { recipient: 'ayşe@örnek.com', recipientType: 'BIREYSEL', type: 'EPOSTA', status: 'ONAY', source: 'HS_WEB', consentDate: recent },
  { recipient: 'ali@example.com', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: recent },
  { recipient: '+905321234567', recipientType: 'KURUMSAL', type: 'ARAMA', status: 'EVET', source: 'HS_INTERNET', consentDate: '27.11.2026 10:00' },
  { recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: recent },
], null, 2);

function table(page) {
  return page.$$eval('#diagnostics tbody tr', (rows) => rows.map((r) => ({
    path: r.dataset.path,
    shownPath: r.querySelector('.path').textContent,
    code: r.querySelector('.code').textContent,
    iysCode: r.querySelector('.iys').textContent,
    severity: r.dataset.severity,
    message: r.querySelector('.message').textContent,
  })));
}

function fromBatch(result) {
  return [...result.errors, ...result.warnings, ...result.items.flatMap((i) => [...i.errors, ...i.warnings])]
    .map((d) => ({ path: d.path, code: d.code, iysCode: d.iysCode || '—', severity: d.severity, message: d.message }));
}

test('playground: a bad batch lists every diagnostic with path, code, IYS code and message, in both languages', async (open) => {
  const { page } = await open(`${server.url}/playground.html`);
  await page.fill('#json', BAD_BATCH);
  const rowsTr = await table(page);
  const pkgTr = fromBatch(await pkg(page, 'validateBatchJson', BAD_BATCH, { lang: 'tr' }));
  assert.deepEqual(rowsTr.map(({ shownPath, ...d }) => d), pkgTr);
  const has = (path, code, iys) => assert.ok(rowsTr.some((r) => r.path === path && r.code === code && r.iysCode === iys),
    `expected ${path} ${code} ${iys} in\n${rowsTr.map((r) => `${r.path} ${r.code} ${r.iysCode}`).join('\n')}`);
  has('/1/recipient', 'recipient/email-non-ascii', 'H120');
  has('/2/type', 'consent/email-needs-eposta', 'H464');
  has('/3/recipientType', 'consent/invalid-recipient-type', 'H116');
  has('/3/status', 'consent/invalid-status', 'H115');
  has('/3/source', 'consent/invalid-source', 'H119');
  has('/3/consentDate', 'consent/date-format', 'H158');
  has('/4', 'batch/duplicate', 'H194');
  assert.ok(!rowsTr.some((r) => r.path.startsWith('/0/')), 'item 0 is fine');
  assert.match(await page.textContent('#summary'), /^Toplu gönderim: 5 izin, \d geçersiz/);
  assert.equal(await attr(page, '#json', 'aria-invalid'), 'true');

  await page.click('button[data-lang="en"]');
  const rowsEn = await table(page);
  assert.deepEqual(rowsEn.map(({ shownPath, ...d }) => d), fromBatch(await pkg(page, 'validateBatchJson', BAD_BATCH, { lang: 'en' })));
  assert.notDeepEqual(rowsEn.map((r) => r.message), rowsTr.map((r) => r.message));
  assert.equal(await page.textContent('#diagnostics th:nth-child(3)'), 'IYS code');
  assert.match(await page.textContent('#summary'), /^Batch: 5 consents, \d invalid/);
  await page.screenshot({ path: path.join(SHOTS, 'playground.png'), fullPage: true });
});

test('playground: one consent, invalid JSON, and the samples', async (open) => {
  const { page } = await open(`${server.url}/playground.html?lang=en`);
  assert.equal(await page.textContent('#summary'), 'Paste JSON to check it.');
  await page.fill('#json', '{"recipient": "+905321234567", "type": "MESAJ",');
  const broken = await table(page);
  assert.deepEqual(broken.map((r) => [r.shownPath, r.code]), [['(whole input)', 'request/invalid-json']]);
  await page.click('#sample-consent');
  assert.deepEqual(await table(page), []);
  assert.equal(await page.textContent('#summary'), 'One consent: valid.');
  assert.equal(await page.isVisible('#no-diagnostics'), true);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'json');
  await page.click('#sample-batch');
  const sample = await table(page);
  assert.ok(sample.some((r) => r.code === 'recipient/email-non-ascii'));
  assert.ok(sample.some((r) => r.code === 'batch/duplicate'));
});

let failed;
try {
  failed = await runAll(tests, browser.context);
} finally {
  await browser.close();
  await server.close();
}
console.log(`www: ${tests.length - failed} passed, ${failed} failed; screenshots in ${SHOTS}`);
process.exit(failed === 0 ? 0 : 1);

// The JS API of the npm package, as a Node user meets it: `import` and `require` through the
// package's own `exports` (crates/iys-wasm/tests/node_modules/iys-validate -> ../../pkg, made by
// `cargo xtask npm`'s test step).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'iys-validate';

const require = createRequire(import.meta.url);
const cjs = require('iys-validate');

const CONSENT = {
  recipient: '+905321234567',
  recipientType: 'BIREYSEL',
  type: 'MESAJ',
  status: 'ONAY',
  source: 'HS_WEB',
  consentDate: '2026-11-27 10:00:00',
};
const NOW = Date.UTC(2026, 10, 28, 9, 0, 0); // 2026-11-28 12:00:00 in Turkey

function assertDiagnostic(d) {
  assert.deepEqual(Object.keys(d), ['code', 'iysCode', 'severity', 'path', 'message', 'params']);
  assert.match(d.code, /^[a-z]+\/[a-z0-9-]+$/);
  assert.ok(d.iysCode === null || /^H\d{3}$/.test(d.iysCode), d.iysCode);
  assert.ok(d.severity === 'error' || d.severity === 'warning');
  assert.equal(typeof d.path, 'string');
  assert.equal(typeof d.message, 'string');
  assert.ok(d.message.length > 0);
  for (const v of Object.values(d.params)) assert.equal(typeof v, 'string');
}

function assertOutcome(r) {
  assert.equal(typeof r.ok, 'boolean');
  assert.ok(Array.isArray(r.errors) && Array.isArray(r.warnings));
  assert.equal(r.ok, r.errors.length === 0, JSON.stringify(r));
  assert.equal(r.ok, 'value' in r, JSON.stringify(r));
  for (const d of r.errors) {
    assertDiagnostic(d);
    assert.equal(d.severity, 'error');
  }
  for (const d of r.warnings) {
    assertDiagnostic(d);
    assert.equal(d.severity, 'warning');
  }
}

test('the exports map sends import to node.mjs and require to node.cjs', () => {
  assert.match(import.meta.resolve('iys-validate'), /\/pkg\/node\.mjs$/);
  assert.match(require.resolve('iys-validate'), /\/pkg\/node\.cjs$/);
  for (const api of [esm, cjs]) {
    for (const f of ['normalizeRecipient', 'validateRecipient', 'validateConsent', 'validateConsentJson', 'validateBatch', 'validateBatchJson', 'initSync']) {
      assert.equal(typeof api[f], 'function', f);
    }
    assert.equal(typeof api.default, 'function');
    assert.equal(typeof api.IysValidateError, 'function');
  }
});

test('a default import compiled to CommonJS (TypeScript, Babel) gets init', async () => {
  // What `import init from 'iys-validate'` becomes in a CommonJS build with esModuleInterop
  // (TypeScript's __importDefault / __importStar, Babel's interopRequireDefault): the module's own
  // `default` only when it says `__esModule`, else the whole exports object.
  const interop = (m) => (m && m.__esModule ? m : { default: m });
  const init = interop(cjs).default;
  assert.equal(typeof init, 'function');
  await init();
  assert.equal(interop(cjs).validateRecipient, cjs.validateRecipient, 'named imports unchanged');
  assert.equal(Object.keys(cjs).includes('__esModule'), false, 'not enumerable: spreading the module stays clean');
});

test('init is a ready no-op in Node', async () => {
  await esm.default();
  await cjs.default();
  esm.initSync();
  assert.equal(esm.validateRecipient('+905321234567').ok, true);
});

test('a valid phone number in wire form', () => {
  const r = esm.validateRecipient('+905321234567');
  assertOutcome(r);
  assert.equal(r.ok, true);
  assert.equal(r.value.kind, 'phone');
  assert.equal(r.value.wire, '+905321234567');
  assert.equal(typeof r.value.phoneType, 'string');
});

test('strict mode names the wire form of a human-written number; normalize returns it', () => {
  // The example of iys-core's crate docs.
  const strict = esm.validateRecipient('0532 123 45 67');
  assertOutcome(strict);
  assert.equal(strict.ok, false);
  assert.equal(strict.errors[0].code, 'recipient/phone-not-wire-form');
  assert.equal(strict.errors[0].iysCode, 'H121');
  assert.equal(strict.errors[0].params.wire, '+905321234567');
  const n = esm.normalizeRecipient('0532 123 45 67');
  assertOutcome(n);
  assert.equal(n.value.wire, '+905321234567');
  assert.deepEqual(esm.validateRecipient('0532 123 45 67', { mode: 'normalize' }), n);
  assert.deepEqual(esm.normalizeRecipient('0532 123 45 67', { mode: 'strict' }), n, 'normalizeRecipient always normalises');
});

test('messages come in Turkish by default and in English on request', () => {
  const tr = esm.validateRecipient('   ');
  const en = esm.validateRecipient('   ', { lang: 'en' });
  assert.equal(tr.errors[0].code, 'recipient/empty');
  assert.equal(tr.errors[0].message, 'Alıcı boş.');
  assert.equal(en.errors[0].message, 'The recipient is empty.');
  assert.equal(esm.validateRecipient('   ', { lang: 'tr' }).errors[0].message, 'Alıcı boş.');
});

test('ESM and require give the same answers', () => {
  for (const input of ['+905321234567', '0532 123 45 67', 'ali@example.com', 'x', '']) {
    for (const mode of ['strict', 'normalize']) {
      assert.deepEqual(cjs.validateRecipient(input, { mode }), esm.validateRecipient(input, { mode }));
    }
  }
  assert.deepEqual(cjs.validateConsent(CONSENT, { now: NOW }), esm.validateConsent(CONSENT, { now: NOW }));
  assert.deepEqual(cjs.validateBatch([CONSENT], { now: NOW }), esm.validateBatch([CONSENT], { now: NOW }));
});

test('validateConsent answers with data for any JSON value', () => {
  for (const payload of [CONSENT, {}, [], null, 'x', 1, true, { ...CONSENT, extra: 1 }, { recipient: 5 }]) {
    assertOutcome(esm.validateConsent(payload, { now: NOW }));
  }
  const r = esm.validateConsent({ ...CONSENT, extra: 1 }, { now: NOW, lang: 'en' });
  assert.equal(r.ok, false);
});

test('validateConsent is validateConsentJson of JSON.stringify', () => {
  for (const payload of [CONSENT, { ...CONSENT, recipient: '0532 123 45 67' }, {}, []]) {
    for (const options of [{ now: NOW }, { now: NOW, mode: 'normalize', lang: 'en' }, { now: NOW, window: false }]) {
      assert.deepEqual(esm.validateConsent(payload, options), esm.validateConsentJson(JSON.stringify(payload), options));
    }
  }
});

test('validateBatch answers per item with its index', () => {
  const items = [CONSENT, {}, { ...CONSENT, recipient: 'ali@example.com', type: 'EPOSTA' }];
  const r = esm.validateBatch(items, { now: NOW });
  assert.equal(typeof r.ok, 'boolean');
  assert.ok(Array.isArray(r.errors) && Array.isArray(r.warnings) && Array.isArray(r.items));
  assert.deepEqual(r.items.map((i) => i.index), [0, 1, 2]);
  for (const item of r.items) {
    const { index, ...rest } = item;
    assert.equal(typeof index, 'number');
    assertOutcome(rest);
  }
  assert.equal(r.items[1].ok, false);
  assert.equal(r.ok, false);
  assert.deepEqual(r, esm.validateBatchJson(JSON.stringify(items), { now: NOW }));
});

test('batch-level problems are data too', () => {
  const notArray = esm.validateBatch({ a: 1 }, { now: NOW });
  assert.equal(notArray.ok, false);
  assert.equal(notArray.errors[0].code, 'batch/not-array');
  const empty = esm.validateBatch([], { now: NOW });
  assert.equal(empty.ok, false);
  assert.equal(empty.errors[0].code, 'batch/empty');
  const big = esm.validateBatch(Array.from({ length: 1001 }, () => CONSENT), { now: NOW });
  assert.equal(big.ok, false);
  assert.ok(big.errors.some((e) => e.code === 'batch/too-large' && e.params.count === '1001'), JSON.stringify(big.errors));
});

test('JSON text that is not JSON is data, not a throw', () => {
  for (const f of [esm.validateConsentJson, esm.validateBatchJson]) {
    const r = f('{"recipient": ', { now: NOW });
    assert.equal(r.ok, false);
    assert.equal(r.errors[0].code, 'request/invalid-json');
  }
});

test('"now" can be a Date, epoch milliseconds or Turkish wall-clock text, all the same instant', () => {
  const future = { ...CONSENT, consentDate: '2026-11-28 12:00:01' };
  const asDate = esm.validateConsent(future, { now: new Date(NOW), lang: 'en' });
  const asMs = esm.validateConsent(future, { now: NOW, lang: 'en' });
  const asText = esm.validateConsent(future, { now: '2026-11-28 12:00:00', lang: 'en' });
  assert.deepEqual(asDate, asMs);
  assert.deepEqual(asText, asMs);
  assert.equal(asMs.ok, false);
  assert.equal(asMs.errors[0].code, 'consent/date-in-future');
  const atIt = esm.validateConsent(future, { now: NOW + 1000 });
  assert.equal(atIt.ok, true, JSON.stringify(atIt));
});

test('"now" defaults to the current time', () => {
  const past = { ...CONSENT, consentDate: '2015-05-01 00:00:00', source: 'HS_2015' };
  assert.deepEqual(esm.validateConsent(past), esm.validateConsent(past, { now: Date.now() }));
});

test('misuse throws an IysValidateError with a code', () => {
  const throws = (fn, code) =>
    assert.throws(fn, (e) => e instanceof esm.IysValidateError && e instanceof Error && e.code === code && /^iys-validate: /.test(e.message));
  throws(() => esm.validateRecipient(5), 'E_ARGUMENT');
  throws(() => esm.validateRecipient(undefined), 'E_ARGUMENT');
  throws(() => esm.validateConsentJson({}), 'E_ARGUMENT');
  const cycle = {};
  cycle.self = cycle;
  throws(() => esm.validateConsent(cycle), 'E_NOT_JSON');
  throws(() => esm.validateConsent({ n: 1n }), 'E_NOT_JSON');
  throws(() => esm.validateConsent(undefined), 'E_NOT_JSON');
  throws(() => esm.validateBatch(() => 1), 'E_NOT_JSON');
  throws(() => esm.validateRecipient('x', { mode: 'lenient' }), 'E_OPTIONS');
  throws(() => esm.validateRecipient('x', { lang: 'de' }), 'E_OPTIONS');
  throws(() => esm.validateRecipient('x', { normalize: true }), 'E_OPTIONS');
  throws(() => esm.validateRecipient('x', 'en'), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: 'tomorrow' }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: '2026-02-30 10:00:00' }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: new Date(NaN) }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: Infinity }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: NOW, window: true }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: NOW, window: { days: -1 } }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: NOW, window: { days: 1.5 } }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: NOW, window: { days: 3, countHolidays: 'yes' } }), 'E_OPTIONS');
  throws(() => esm.validateConsent(CONSENT, { now: NOW, window: { days: 3, holidays: true } }), 'E_OPTIONS');
  throws(() => cjs.validateRecipient(5), 'E_ARGUMENT');
  assert.equal(cjs.IysValidateError, esm.IysValidateError, 'one error class for import and require');
});

test('options that are fine: null, {}, and every documented value', () => {
  for (const options of [undefined, null, {}, { mode: 'strict' }, { mode: 'normalize' }, { lang: 'tr' }, { lang: 'en' },
    { window: false }, { window: { days: 0 } }, { window: { days: 5, countHolidays: false } }, { now: 0 }, { now: new Date(0) }]) {
    assertOutcome(esm.validateConsent(CONSENT, options));
  }
});

test('hostile strings never throw and come back intact in params', () => {
  const inputs = ['\u0000', '"\\', '\ud800', 'a'.repeat(100000), '+90 532 123 45 67\u200b', '٠٥٣٢١٢٣٤٥٦٧', '@', '@@', 'ayşe@örnek.com'];
  for (const input of inputs) {
    for (const mode of ['strict', 'normalize']) assertOutcome(esm.validateRecipient(input, { mode }));
    assertOutcome(esm.validateConsent({ ...CONSENT, recipient: input }, { now: NOW }));
    assertOutcome(esm.validateConsentJson(input, { now: NOW }));
  }
});

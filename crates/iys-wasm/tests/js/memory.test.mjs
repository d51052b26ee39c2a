// The wasm's allocator (crates/iys-wasm/src/arena.rs) is a bump arena that empties between calls:
// memory must stay flat over many calls of every export, whatever the input (valid, invalid, big).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { normalizeRecipient, validateRecipient, validateConsent, validateConsentJson, validateBatch, validateBatchJson } from 'iys-validate';

const require = createRequire(import.meta.url);
const dir = require.resolve('iys-validate/package.json').replace(/package\.json$/, '');
// The same glue module the package entry loaded: its `initSync` hands back the live instance.
const glue = await import(pathToFileURL(`${dir}web/iys_validate.js`).href);
const wasm = glue.initSync({ module: readFileSync(`${dir}web/iys_validate_bg.wasm`) });
const bytes = () => wasm.memory.buffer.byteLength;

const CONSENT = { recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: '2025-11-18 10:00:00' };
const NOW = '2025-11-19 12:00:00';
const batch = Array.from({ length: 10 }, (_, i) => ({ ...CONSENT, recipient: i % 3 ? `0532 123 ${String(i).padStart(4, '0')}` : 'x@' }));
const big = 'ü'.repeat(5_000);

function round(i) {
  switch (i % 8) {
    case 0: return normalizeRecipient(`0 (532) 123 45 ${String(i % 100).padStart(2, '0')}`);
    case 1: return validateRecipient(i % 2 ? 'ali@example.com' : 'not a phone');
    case 2: return validateConsent(CONSENT, { now: NOW });
    case 3: return validateConsentJson('{"recipient": 1', { now: NOW });
    case 4: return validateBatch(batch, { mode: 'normalize', now: NOW, lang: 'en' });
    case 5: return validateBatchJson('[1, {}, "x"]', { now: NOW });
    case 6: return validateRecipient(big);
    default: return validateConsent({ ...CONSENT, recipient: big }, { now: NOW });
  }
}

test('memory stays flat over 100,000 calls', () => {
  for (let i = 0; i < 1_000; i++) round(i);
  const warm = bytes();
  for (let i = 0; i < 100_000; i++) round(i);
  assert.equal(bytes(), warm, `memory grew from ${warm} to ${bytes()} bytes`);
  // And the answers are still right afterwards.
  assert.equal(normalizeRecipient('0532 123 45 67').value.wire, '+905321234567');
});

// Node, `import`: the `server` build (opt-level 3, for throughput), instantiated synchronously from
// its file, through the one wasm-bindgen glue the two builds share (`cargo xtask npm` checks that).
import { readFileSync } from 'node:fs';
import { initSync as wbgInitSync } from './web/iys_validate.js';
// The CommonJS copy of api.js, so that `import` and `require` share one IysValidateError class.
import { createApi, codes, IysValidateError } from './api.cjs';

const wasm = wbgInitSync({ module: readFileSync(new URL('./server/iys_validate_bg.wasm', import.meta.url)) });

/** Already loaded: kept so that code written for the browser build runs unchanged. */
export default async function init() {}
export function initSync() {}

export const {
  normalizeRecipient,
  validateRecipient,
  validateConsent,
  validateConsentJson,
  validateBatch,
  validateBatchJson,
} = createApi(() => wasm, () => true);
export const CODES = codes();
export { IysValidateError };

// Node, `import`: the `web` build, instantiated synchronously from the file next to it.
import { readFileSync } from 'node:fs';
import { initSync as wbgInitSync, recipient, consent, batch, local_to_unix } from './web/iys_validate.js';
// The CommonJS copy of api.js, so that `import` and `require` share one IysValidateError class.
import { createApi, IysValidateError } from './api.cjs';

wbgInitSync({ module: readFileSync(new URL('./web/iys_validate_bg.wasm', import.meta.url)) });

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
} = createApi({ recipient, consent, batch, local_to_unix }, () => true);
export { IysValidateError };

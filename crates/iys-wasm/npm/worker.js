// Cloudflare Workers (workerd): wrangler imports the .wasm as a compiled WebAssembly.Module, and the
// `web` glue instantiates it synchronously at startup.
import wasmModule from './web/iys_validate_bg.wasm';
import { initSync as wbgInitSync, recipient, consent, batch, local_to_unix } from './web/iys_validate.js';
import { createApi, IysValidateError } from './api.js';

wbgInitSync({ module: wasmModule });

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

// Cloudflare Workers (workerd): wrangler imports the `server` build's .wasm (opt-level 3, for
// throughput) as a compiled WebAssembly.Module, and the shared glue instantiates it synchronously at
// startup.
import wasmModule from './server/iys_validate_bg.wasm';
import { initSync as wbgInitSync } from './web/iys_validate.js';
import { createApi, codes, IysValidateError } from './api.js';

const wasm = wbgInitSync({ module: wasmModule });

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

// Browsers, bundlers (Vite, webpack, esbuild, Rollup) and web workers: the wasm-bindgen `web` build.
// Call `await init()` once; it fetches iys_validate_bg.wasm next to the glue (bundlers copy it as
// an asset through `new URL(..., import.meta.url)`).
import wbgInit, { initSync as wbgInitSync, recipient, consent, batch, local_to_unix } from './web/iys_validate.js';
import { createApi, IysValidateError } from './api.js';

let ready = false;

export default async function init(moduleOrPath) {
  if (ready) return;
  const arg = moduleOrPath === undefined || (moduleOrPath !== null && typeof moduleOrPath === 'object' && 'module_or_path' in moduleOrPath)
    ? moduleOrPath
    : { module_or_path: moduleOrPath };
  await wbgInit(arg);
  ready = true;
}

export function initSync(module) {
  if (ready) return;
  wbgInitSync(module !== null && typeof module === 'object' && 'module' in module ? module : { module });
  ready = true;
}

export const {
  normalizeRecipient,
  validateRecipient,
  validateConsent,
  validateConsentJson,
  validateBatch,
  validateBatchJson,
} = createApi({ recipient, consent, batch, local_to_unix }, () => ready);
export { IysValidateError };

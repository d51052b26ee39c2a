// Browsers, bundlers (Vite, webpack, esbuild, Rollup) and web workers: the `web` build (opt-level
// "z", for the download and the first answer).
// Call `await init()` once; it fetches iys_validate_bg.wasm next to the glue (Vite and webpack copy
// it as an asset through `new URL(..., import.meta.url)`; with esbuild, pass its URL to `init`, see
// README.md).
import wbgInit, { initSync as wbgInitSync } from './web/iys_validate.js';
import { createApi, codes, IysValidateError } from './api.js';

let wasm = null;

export default async function init(moduleOrPath) {
  if (wasm) return;
  const arg = moduleOrPath === undefined || (moduleOrPath !== null && typeof moduleOrPath === 'object' && 'module_or_path' in moduleOrPath)
    ? moduleOrPath
    : { module_or_path: moduleOrPath };
  wasm = await wbgInit(arg);
}

export function initSync(module) {
  if (wasm) return;
  wasm = wbgInitSync(module !== null && typeof module === 'object' && 'module' in module ? module : { module });
}

export const {
  normalizeRecipient,
  validateRecipient,
  validateConsent,
  validateConsentJson,
  validateBatch,
  validateBatchJson,
} = createApi(() => wasm, () => wasm !== null);
export const CODES = codes();
export { IysValidateError };

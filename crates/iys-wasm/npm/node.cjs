// Node, `require`: the shared wasm-bindgen glue as CommonJS (node/iys_validate.cjs, made by `cargo
// xtask npm`), instantiating the `server` build (opt-level 3, for throughput) synchronously.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { initSync: wbgInitSync } = require('./node/iys_validate.cjs');
const { createApi, codes, IysValidateError } = require('./api.cjs');

const wasm = wbgInitSync({ module: readFileSync(join(__dirname, 'server', 'iys_validate_bg.wasm')) });

/** Already loaded: kept so that code written for the browser build runs unchanged. */
async function init() {}
function initSync() {}

module.exports = { ...createApi(() => wasm, () => true), CODES: codes(), IysValidateError, init, initSync, default: init };
// `import init from 'iys-validate'` compiled to CommonJS (TypeScript with esModuleInterop, Babel)
// reads `.default` only from a module marked as converted from ESM; unmarked, it gets this whole
// object, and `await init()` throws "not a function".
Object.defineProperty(module.exports, '__esModule', { value: true });

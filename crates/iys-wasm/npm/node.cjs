// Node, `require`: the wasm-bindgen `nodejs` build (CommonJS, loads the .wasm synchronously).
'use strict';
const glue = require('./node/iys_validate.js');
const { createApi, IysValidateError } = require('./api.cjs');

/** Already loaded: kept so that code written for the browser build runs unchanged. */
async function init() {}
function initSync() {}

module.exports = { ...createApi(glue, () => true), IysValidateError, init, initSync, default: init };

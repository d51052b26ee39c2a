// Run in a fresh process by startup.test.mjs; prints JSON timings in milliseconds:
//   compile: new WebAssembly.Module(bytes) (browsers overlap this with the download through
//            instantiateStreaming; Workers get the module precompiled)
//   firstAnswer: instantiate (initSync with the compiled module) + the first validateRecipient call,
//            including V8's lazy compilation of the functions that call runs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dir = require.resolve('iys-validate/package.json').replace(/package\.json$/, '');
const bytes = readFileSync(`${dir}web/iys_validate_bg.wasm`);
const api = await import(`${dir}index.js`); // the browser build: nothing instantiated yet

const t0 = performance.now();
const module = new WebAssembly.Module(bytes);
const t1 = performance.now();
api.initSync({ module });
const r = api.validateRecipient('+905321234567');
const t2 = performance.now();
if (!r.ok) throw new Error(`unexpected answer ${JSON.stringify(r)}`);
process.stdout.write(JSON.stringify({ compile: t1 - t0, firstAnswer: t2 - t1 }));

// One cold start, in a fresh Node process (bench.mjs runs it several times and takes medians).
// Prints JSON timings in milliseconds:
//   compile: new WebAssembly.Module(bytes) (browsers overlap this with the download through
//            instantiateStreaming; Workers get the module precompiled)
//   firstAnswer: instantiate (initSync with the compiled module) + the first validateRecipient call,
//            including V8's lazy compilation of the functions that call runs.
// By default it times the browser entry with the `web` build (what a page loads); with the argument
// `server`, the same entry with the `server` build that Node and Workers load (the builds share one
// glue). With the argument `peer`, it times libphonenumber-js/max instead: `import` of the module (which
// is where its metadata is set up) and, as firstAnswer, the first parse + isValid + E.164.
import { readFileSync } from 'node:fs';

if (process.argv[2] === 'peer') {
  const t0 = performance.now();
  const { parsePhoneNumberFromString } = await import('libphonenumber-js/max');
  const t1 = performance.now();
  const n = parsePhoneNumberFromString('+905321234567', 'TR');
  const ok = n !== undefined && n.isValid() && n.number === '+905321234567';
  const t2 = performance.now();
  if (!ok) throw new Error('unexpected peer answer');
  process.stdout.write(JSON.stringify({ import: t1 - t0, firstAnswer: t2 - t1 }));
} else {
  const pkg = new URL('../pkg/', import.meta.url);
  const build = process.argv[2] === 'server' ? 'server' : 'web';
  const bytes = readFileSync(new URL(`${build}/iys_validate_bg.wasm`, pkg));
  const api = await import(new URL('index.js', pkg).href); // the browser build: nothing instantiated yet

  const t0 = performance.now();
  const module = new WebAssembly.Module(bytes);
  const t1 = performance.now();
  api.initSync({ module });
  const r = api.validateRecipient('+905321234567');
  const t2 = performance.now();
  if (!r.ok) throw new Error(`unexpected answer ${JSON.stringify(r)}`);
  process.stdout.write(JSON.stringify({ compile: t1 - t0, firstAnswer: t2 - t1 }));
}

// What a browser downloads (the wasm, the wasm-bindgen glue and our wrapper with its tables), gzip -9, must not
// grow past the guard below, and both wasm builds must be built as intended: no name or producers section, no phonenumber and no regex
// inside.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dir = require.resolve('iys-validate/package.json').replace(/package\.json$/, '');
const BROWSER_FILES = ['web/iys_validate_bg.wasm', 'web/iys_validate.js', 'index.js', 'api.js'];
// A regression guard, not the goal: the goal is 20,000 B (docs/benchmarks.md reports it and
// `cargo xtask bench` measures it); the package was 32,873 B (iys-core 5c9840e) when this guard was set (panic paths
// cut by tools/shrink.mjs, no JSON writer or message text in the wasm: the tables are in api.js). Raised from 33,300
// to 33,350 when five relay codes joined iys-core's table (33,310 B: their code strings and H-codes are in api.js's
// tables; their messages are not, the wasm never reports them). Raised by 274 to 33,624 with the strict TR phone
// profile (33,309 -> 33,583 B measured: the new recipient/phone-non-geographic warning and the longer too-short and
// not-assigned messages in both languages in api.js, +203 B; the wasm's phone code, +71 B).
const BUDGET = 33_624;

test(`browser download ≤ ${BUDGET} bytes gzip -9`, (t) => {
  let total = 0;
  for (const f of BROWSER_FILES) {
    const raw = readFileSync(dir + f);
    const gz = execFileSync('gzip', ['-9', '-n', '-c', dir + f], { maxBuffer: 1 << 26 }).length;
    total += gz;
    t.diagnostic(`${f}: ${raw.length} raw, ${gz} gzip -9`);
  }
  t.diagnostic(`total: ${total} gzip -9 (budget ${BUDGET})`);
  assert.ok(total <= BUDGET, `${total} bytes gzip -9 > ${BUDGET}`);
});

// The two builds: `web` (opt-level "z") for browsers and bundlers, `server` (opt-level 3) for Node
// and Workers; both through the one glue in web/.
const BUILDS = ['web', 'server'];

for (const build of BUILDS) {
  test(`the ${build} wasm has no name or producers section and no phonenumber or regex code`, () => {
    const bytes = readFileSync(`${dir}${build}/iys_validate_bg.wasm`);
    const module = new WebAssembly.Module(bytes);
    assert.equal(WebAssembly.Module.customSections(module, 'name').length, 0);
    assert.equal(WebAssembly.Module.customSections(module, 'producers').length, 0);
    const text = bytes.toString('latin1');
    for (const crate of ['phonenumber', 'regex', 'serde']) assert.ok(!text.includes(crate), `${crate} is in the wasm`);
  });
}

test('the wasm re-exports no import (each costs V8 a wrapper at every instantiation)', () => {
  for (const build of BUILDS) {
    const module = new WebAssembly.Module(readFileSync(`${dir}${build}/iys_validate_bg.wasm`));
    const exported = WebAssembly.Module.exports(module).map((e) => e.name);
    // wasm-bindgen's `__wbindgen_start` is its imported externref set-up handed back: tools/shrink.mjs
    // removes it and the glue calls the set-up itself.
    assert.ok(!exported.includes('__wbindgen_start'), `${build} exports: ${exported.join(', ')}`);
  }
  const glue = readFileSync(`${dir}web/iys_validate.js`, 'utf8');
  assert.ok(!glue.includes('__wbindgen_start'), 'the glue still calls __wbindgen_start');
});

test('the two builds import and export the same, so one glue serves both', () => {
  const [web, server] = BUILDS.map((b) => new WebAssembly.Module(readFileSync(`${dir}${b}/iys_validate_bg.wasm`)));
  const shape = (m) => JSON.stringify([WebAssembly.Module.imports(m), WebAssembly.Module.exports(m)]);
  assert.equal(shape(server), shape(web));
  assert.notDeepEqual(readFileSync(`${dir}server/iys_validate_bg.wasm`), readFileSync(`${dir}web/iys_validate_bg.wasm`));
});

// `node crates/iys-wasm/tools/shrink.mjs FILE.wasm` — run by `cargo xtask npm` on the wasm-bindgen
// output (which still has its name section, for this step), rewriting FILE in place:
//
// 1. Every function of Rust's panic paths (`core::panicking::*`, the slice/str index failures,
//    `unwrap_failed`, `capacity_overflow`, `handle_alloc_error`) becomes a bare `unreachable`. Each
//    of them diverges into our panic handler, which traps without reading the message, so the
//    behaviour is the same trap; but while they build a message, `core::fmt`, `Debug` of chars and
//    ranges and the Unicode printable tables stay in the module (stable Rust cannot leave them out:
//    that needs `-Zbuild-std` with `panic_immediate_abort`).
// 2. binaryen's optimiser (`-Oz`: shrink level 2, optimise level 2, but no inlining) then drops
//    what nothing calls any more, and the rest of the module gets smaller too.
// 3. The name and producers sections are removed.
// 4. The `__wbindgen_start` export is removed (see below).
//
// binaryen is the npm package pinned in the repository's package.json (the JS/wasm build of
// wasm-opt; no native download). A panic path that the pattern misses only costs bytes.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) throw new Error('usage: node shrink.mjs FILE.wasm');
const PANIC = /^(core|alloc)(\[[0-9a-f]+\])?::(panicking::|str::slice_error_fail|slice::index::slice_(index|start_index|end_index)_|slice::index::slice_index_order_fail|option::unwrap_failed|option::expect_failed|result::unwrap_failed|raw_vec::capacity_overflow|raw_vec::handle_error|alloc::handle_alloc_error)/;

const before = readFileSync(file);
const mod = binaryen.readBinary(before);
// (The features are the module's own, read from its target_features section: the optimiser must not
// use any other, or older engines refuse the module.)
const snipped = [];
for (let i = 0; i < mod.getNumFunctions(); i++) {
  const f = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
  if (f.body && PANIC.test(f.name)) snipped.push(f);
}
for (const f of snipped) {
  mod.removeFunction(f.name);
  mod.addFunction(f.name, f.params, f.results, [], mod.unreachable());
}
binaryen.setShrinkLevel(2);
binaryen.setOptimizeLevel(2);
// No inlining: rustc has inlined what pays already, and V8 compiles each function the first time it
// runs, so merging rarely-run callees into hot functions only makes the first answer slower (and,
// measured, the module a little larger).
binaryen.setAlwaysInlineMaxSize(0);
binaryen.setFlexibleInlineMaxSize(0);
binaryen.setOneCallerInlineMaxSize(0);
binaryen.setDebugInfo(false);
mod.optimize();
mod.runPasses(['strip-debug', 'strip-producers']);
// 4. wasm-bindgen exports `__wbindgen_start`, which here is only its imported JS function (the
//    externref table set-up) handed back to JS. Exporting an import makes V8 build a wrapper for it
//    on every instantiation: 0.4 ms of a 0.5 ms `initSync` (Node 22, measured). The export goes, and
//    `cargo xtask npm` makes the glue call the set-up function directly instead.
const start = mod.getExport('__wbindgen_start');
if (start) {
  const target = binaryen.getExportInfo(start);
  const fn = target.kind === binaryen.ExternalFunction ? binaryen.getFunctionInfo(mod.getFunction(target.value)) : null;
  if (!fn || !fn.module) throw new Error(`${file}: __wbindgen_start is no longer a re-exported import; revisit shrink.mjs`);
  mod.removeExport('__wbindgen_start');
}
if (!mod.validate()) throw new Error(`${file}: binaryen produced an invalid module`);
const after = mod.emitBinary();
mod.dispose();
writeFileSync(file, after);
console.error(`shrink: ${snipped.length} panic functions made unreachable; ${before.length} -> ${after.length} bytes`);

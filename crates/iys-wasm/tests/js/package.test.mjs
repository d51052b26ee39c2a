// The package as npm publishes it: `npm pack` works, ships what the exports map names (and
// nothing else), and every entry point exists.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dir = require.resolve('iys-validate/package.json').replace(/package\.json$/, '');
const manifest = JSON.parse(readFileSync(`${dir}package.json`, 'utf8'));

function targets(node, out = []) {
  if (typeof node === 'string') out.push(node);
  else for (const v of Object.values(node)) targets(v, out);
  return out;
}

test('npm pack --dry-run lists exactly the package files', () => {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' }));
  assert.equal(info.name, 'iys-validate');
  const files = info.files.map((f) => f.path).sort();
  assert.deepEqual(files, [...manifest.files, 'package.json', 'README.md'].sort());
});

test('every file the exports map and the README name exists', () => {
  for (const t of targets(manifest.exports)) assert.ok(existsSync(dir + t), t);
  for (const f of [manifest.main, manifest.module, manifest.browser, manifest.types]) assert.ok(existsSync(dir + f), f);
  const readme = readFileSync(`${dir}README.md`, 'utf8');
  for (const section of ['<script type="module">', 'Vite', 'Node', 'Workers']) assert.ok(readme.includes(section), section);
});

test('conditions: workerd, then node import/require, then the browser build', () => {
  const root = manifest.exports['.'];
  assert.deepEqual(Object.keys(root), ['workerd', 'node', 'types', 'default']);
  assert.equal(root.workerd.default, './worker.js');
  assert.equal(root.node.import.default, './node.mjs');
  assert.equal(root.node.require.default, './node.cjs');
  assert.equal(root.default, './index.js');
});

test('Node and Workers load the server build, browsers the web build', () => {
  // (The entries are minified: the paths are string literals, so they survive.)
  for (const entry of ['node.mjs', 'node.cjs', 'worker.js']) {
    const text = readFileSync(dir + entry, 'utf8');
    assert.match(text, /server[/'", ]+iys_validate_bg\.wasm/, entry);
    assert.doesNotMatch(text, /web[/'", ]+iys_validate_bg\.wasm/, entry);
  }
  // index.js leaves the file to the glue, which fetches the .wasm next to itself, in web/.
  assert.doesNotMatch(readFileSync(`${dir}index.js`, 'utf8'), /server/);
  assert.match(readFileSync(`${dir}web/iys_validate.js`, 'utf8'), /iys_validate_bg\.wasm/);
});

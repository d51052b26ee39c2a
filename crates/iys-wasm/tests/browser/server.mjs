// Serves the browser suite on 127.0.0.1:
//   /pkg/...       crates/iys-wasm/pkg (the built npm package)
//   /tests/...     crates/iys-wasm/tests (the page and the shared corpus module)
//   /fixtures/     the list of tests/fixtures/*.json, as JSON; /fixtures/NAME the file itself
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { serve, within } from '../../../../tests/js/static-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOTS = {
  pkg: path.resolve(HERE, '../../pkg'),
  tests: path.resolve(HERE, '..'),
  fixtures: path.resolve(HERE, '../../../../tests/fixtures'),
};

/** Starts the server; resolves to { url, close }. */
export function start() {
  return serve(async (pathname) => {
    const [, top, ...rest] = pathname.split('/');
    const root = ROOTS[top];
    if (!root) return null;
    if (top === 'fixtures' && rest.join('') === '') {
      return { json: (await readdir(root)).filter((f) => f.endsWith('.json')).sort() };
    }
    return within(root, rest.join('/'));
  });
}

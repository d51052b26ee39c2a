// A static file server on 127.0.0.1 (port 0: the OS picks a free one) for the browser suite:
//   /pkg/...       crates/iys-wasm/pkg (the built npm package)
//   /tests/...     crates/iys-wasm/tests (the page and the shared corpus module)
//   /fixtures/     the list of tests/fixtures/*.json, as JSON; /fixtures/NAME the file itself
import { createServer } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOTS = {
  pkg: path.resolve(HERE, '../../pkg'),
  tests: path.resolve(HERE, '..'),
  fixtures: path.resolve(HERE, '../../../../tests/fixtures'),
};
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

async function respond(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const [, top, ...rest] = decodeURIComponent(url.pathname).split('/');
  const root = ROOTS[top];
  if (req.method !== 'GET' || !root) return send(res, 404, 'text/plain', 'not found');
  if (top === 'fixtures' && rest.join('') === '') {
    const names = (await readdir(root)).filter((f) => f.endsWith('.json')).sort();
    return send(res, 200, TYPES['.json'], JSON.stringify(names));
  }
  const file = path.resolve(root, ...rest);
  if (!file.startsWith(root + path.sep)) return send(res, 403, 'text/plain', 'forbidden');
  try {
    const body = await readFile(file);
    return send(res, 200, TYPES[path.extname(file)] || 'application/octet-stream', body);
  } catch {
    return send(res, 404, 'text/plain', 'not found');
  }
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/** Starts the server; resolves to { url, close }. */
export function start() {
  const server = createServer((req, res) => {
    respond(req, res).catch((e) => send(res, 500, 'text/plain', String(e)));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

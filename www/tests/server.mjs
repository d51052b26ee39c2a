// A static file server for www/ on 127.0.0.1 (port 0: the OS picks a free one), as a plain static
// host would serve the pages. `/` is index.html. GET and HEAD only; nothing outside www/.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

async function respond(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed');
  const url = new URL(req.url, 'http://127.0.0.1');
  let rel = decodeURIComponent(url.pathname);
  if (rel.endsWith('/')) rel += 'index.html';
  const file = path.resolve(WWW, `.${rel}`);
  if (!file.startsWith(WWW + path.sep)) return send(res, 403, 'text/plain', 'forbidden');
  try {
    return send(res, 200, TYPES[path.extname(file)] || 'application/octet-stream', await readFile(file), req.method === 'HEAD');
  } catch {
    return send(res, 404, 'text/plain', 'not found');
  }
}

function send(res, status, type, body, head = false) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(head ? undefined : body);
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

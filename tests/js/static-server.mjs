// A static file server on 127.0.0.1 (port 0: the OS picks a free one) for the browser suites.
// `resolve(pathname)` maps a decoded URL path to an absolute file path, to `{ json }` for a
// generated answer, or to null (404). GET and HEAD only; `within` keeps paths inside a root.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

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

/** `root` joined with the URL path `rel`, or null when it would leave `root`. */
export function within(root, rel) {
  const file = path.resolve(root, `.${path.posix.normalize(`/${rel}`)}`);
  return file.startsWith(root + path.sep) ? file : null;
}

function send(res, status, type, body, head) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(head ? undefined : body);
}

async function respond(resolve, req, res) {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return send(res, 405, 'text/plain', 'method not allowed', head);
  const target = await resolve(decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname));
  if (target === null) return send(res, 404, 'text/plain', 'not found', head);
  if (typeof target === 'object') return send(res, 200, TYPES['.json'], JSON.stringify(target.json), head);
  try {
    return send(res, 200, TYPES[path.extname(target)] || 'application/octet-stream', await readFile(target), head);
  } catch {
    return send(res, 404, 'text/plain', 'not found', head);
  }
}

/** Starts the server; resolves to { url, close }. */
export function serve(resolve) {
  const server = createServer((req, res) => {
    respond(resolve, req, res).catch((e) => send(res, 500, 'text/plain', String(e), false));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      ok({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

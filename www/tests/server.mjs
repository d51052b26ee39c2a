// Serves www/ on 127.0.0.1 as a plain static host would: `/` is index.html; nothing outside www/.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { serve, within } from '../../tests/js/static-server.mjs';

export const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Starts the server; resolves to { url, close }. */
export function start() {
  return serve((rel) => within(WWW, rel.endsWith('/') ? `${rel}index.html` : rel));
}

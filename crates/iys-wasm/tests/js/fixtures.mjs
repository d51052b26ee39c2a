// Reads the shared fixture corpus, tests/fixtures/*.json, for the Node and browser runners.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../../../tests/fixtures/', import.meta.url));

/** [{ file, data }] in file-name order; fails loudly when the corpus is missing or empty. */
export function loadFixtures() {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  if (names.length === 0) throw new Error(`no fixtures in ${FIXTURES}`);
  return names.map((file) => {
    const data = JSON.parse(readFileSync(`${FIXTURES}${file}`, 'utf8'));
    if (!Array.isArray(data.cases) || data.cases.length === 0) throw new Error(`${file}: no cases`);
    return { file, data };
  });
}

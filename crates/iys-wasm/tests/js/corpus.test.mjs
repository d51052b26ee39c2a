// The shared fixture corpus through the npm package in Node, via `import` and via `require`: every
// case must agree with the fixture (and so with the Rust corpus runner, which reads the same files).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'iys-validate';
import { judge } from './corpus.mjs';
import { loadFixtures } from './fixtures.mjs';

const cjs = createRequire(import.meta.url)('iys-validate');

for (const { file, data } of loadFixtures()) {
  test(file, async (t) => {
    for (const c of data.cases) {
      await t.test(c.name, () => {
        const viaImport = judge(esm, c);
        assert.deepEqual(viaImport.problems, [], `${file} ${c.name}:\n  ${viaImport.problems.join('\n  ')}`);
        assert.deepEqual(judge(cjs, c).answer, viaImport.answer, 'require and import answer alike');
      });
    }
  });
}

/**
 * The public WASI preview1 suite (WebAssembly/wasi-testsuite, 72 tests) through `plume run`, judged by the
 * suite's own expectations (./testsuite.ts). Every test is expected to pass; none is judged wrong.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SUITE_ARCHIVE, listCases, runSuite, unpackSuite } from './testsuite.ts';

describe(
  'wasi-testsuite preview1 through plume run',
  { skip: !existsSync(SUITE_ARCHIVE) && 'the suite archive is not in ../shared' },
  () => {
    it('should pass every one of the 72 tests', { timeout: 600_000 }, async () => {
      const cases = listCases(await unpackSuite());
      assert.equal(cases.length, 72);
      const results = await runSuite(cases);
      const failed = results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.reason}`);
      assert.deepEqual(failed, []);
    });
  },
);

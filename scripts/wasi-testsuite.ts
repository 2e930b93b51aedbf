/** `npm run test:wasi`: the public WASI preview1 suite through `plume run`; prints each failure and N/total. */
import { listCases, runSuite, unpackSuite } from '../test/wasi/testsuite.ts';

const json = process.argv.includes('--json');
const cases = listCases(await unpackSuite());
const results = await runSuite(cases);
const passed = results.filter((r) => r.pass);
if (json) {
  console.log(JSON.stringify({ passed: passed.length, total: results.length, results }, null, 1));
} else {
  for (const r of results) if (!r.pass) console.log(`FAIL ${r.name}: ${r.reason}`);
  console.log(`${passed.length}/${results.length} passed`);
}

/** Every spec under examples/workflows/ applies (deploying its own functions) and gives the output its comment promises. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/index.ts';
import { example, text } from '../helpers.ts';

const dir = example('workflows');
const expected: Record<string, [input: string, output: string][]> = {
  'chain.yaml': [['hello', 'OLLEH']],
  'fan-out-join.yaml': [['hello', 'HELLO olleh']],
  'letters.yaml': [
    ['the quick brown fox', '16'],
    ['', '0'],
  ],
  'branch.yaml': [
    ['hello', 'HELLO'],
    ['41', '42'],
  ],
};

describe('examples/workflows', () => {
  let plume: Plume;

  before(async () => {
    plume = await Plume.start({ workers: 2 });
  });
  after(() => plume.close());

  it('should have an expected output for every example spec', () => {
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
      Object.keys(expected).sort(),
    );
  });

  for (const [file, runs] of Object.entries(expected)) {
    it(`should apply and run ${file}`, async () => {
      const info = await plume.applyWorkflow(readFileSync(`${dir}/${file}`, 'utf8'), { baseDir: dir });
      for (const [input, output] of runs)
        assert.equal(text((await plume.runWorkflow(info.name, input)).output), output, `${file} on '${input}'`);
    });
  }
});

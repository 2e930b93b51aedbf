/**
 * `plume bench batching --quick --json` as a user runs it: a smoke run that checks the JSON contract (cases,
 * fields, the same rates for every case), never its numbers (benchmarks are not timed tests).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../helpers.ts';

interface Row {
  readonly case: string;
  readonly [field: string]: number | string;
}

const FIELDS = ['rate_rps', 'throughput_rps', 'n', 'dropped', 'errors', 'p50_ms', 'p90_ms', 'p99_ms', 'mean_ms'];

describe('plume bench batching', () => {
  it('should print none, fixed and adaptive at the same rising rates, each row in the contract', { timeout: 180_000 }, () => {
    const r = spawnSync(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), 'bench', 'batching', '--quick', '--json'],
      { cwd: root, encoding: 'utf8', timeout: 170_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { scenario: string; node: string; cpus: number; results: Row[] };
    assert.equal(doc.scenario, 'batching');
    assert.match(doc.node, /^v24\./);
    const cases = ['none', 'fixed', 'adaptive'];
    assert.deepEqual([...new Set(doc.results.map((row) => row.case))], cases);
    const rates = (c: string): number[] => doc.results.filter((row) => row.case === c).map((row) => Number(row.rate_rps));
    assert.equal(rates('none').length, 4);
    assert.deepEqual(
      rates('none'),
      [...rates('none')].sort((a, b) => a - b),
    );
    for (const c of cases) assert.deepEqual(rates(c), rates('none'), c);
    for (const row of doc.results) {
      for (const field of FIELDS) assert.equal(typeof row[field], 'number', `${row.case}.${field}: ${JSON.stringify(row)}`);
      assert.equal(row.errors, 0, JSON.stringify(row));
      assert.ok(Number(row.n) > 0 && Number(row.throughput_rps) > 0, JSON.stringify(row));
      assert.ok(Number(row.p50_ms) > 0 && row.p90_ms >= row.p50_ms && row.p99_ms >= row.p90_ms, JSON.stringify(row));
    }
    assert.match(r.stderr, /targets \(issue 4\):/);
  });
});

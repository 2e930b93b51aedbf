/**
 * `plume bench ocr --quick --json` as a user runs it: a smoke run of the whole scenario that checks the JSON
 * contract (cases, fields, the same rates for every case), never its numbers (benchmarks are not timed tests).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from './helpers.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

const bench = (args: string[]) =>
  spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), 'bench', 'ocr', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
  });

interface Row {
  readonly case: string;
  readonly [field: string]: number | string;
}

const FIELDS = ['rate_rps', 'throughput_rps', 'n', 'dropped', 'errors', 'p50_ms', 'p90_ms', 'p99_ms', 'mean_ms'];

describe('plume bench ocr', () => {
  it(
    'should print the three cases at the same rising rates, each row in the contract',
    { skip: hasRedis ? false : 'redis-server is not installed: the process-per-function case needs it', timeout: 300_000 },
    () => {
      const r = bench(['--quick', '--json', '--cold-ratio', '0.2']);
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { scenario: string; node: string; cpus: number; results: Row[] };
      assert.equal(doc.scenario, 'ocr');
      assert.match(doc.node, /^v24\./);
      assert.ok(doc.cpus >= 1);
      const cases = ['plume', 'direct', 'process-per-function'];
      assert.deepEqual([...new Set(doc.results.map((row) => row.case))], cases);
      const rates = (c: string): number[] => doc.results.filter((row) => row.case === c).map((row) => Number(row.rate_rps));
      // Two calibrated rates and the point at 70% of plume's saturation, in rising order, shared by every case.
      assert.equal(rates('plume').length, 3);
      assert.deepEqual(
        rates('plume'),
        [...rates('plume')].sort((a, b) => a - b),
      );
      for (const c of cases) assert.deepEqual(rates(c), rates('plume'), c);
      for (const row of doc.results) {
        for (const field of FIELDS) assert.equal(typeof row[field], 'number', `${row.case}.${field}: ${JSON.stringify(row)}`);
        assert.equal(row.errors, 0, JSON.stringify(row));
        assert.ok(Number(row.n) > 0 && Number(row.throughput_rps) > 0, JSON.stringify(row));
        assert.ok(Number(row.p50_ms) > 0 && row.p90_ms >= row.p50_ms && row.p99_ms >= row.p90_ms, JSON.stringify(row));
      }
      for (const row of doc.results.filter((x) => x.case === 'process-per-function')) {
        assert.equal(row.cold_ratio, 0.2);
        assert.equal(typeof row.cold_starts, 'number');
      }
      assert.match(r.stderr, /direct service time [\d.]+ ms alone, capacity [\d.]+ req\/s → rates/);
      assert.match(r.stderr, /targets \(issue 5\):/);
    },
  );

  it('should refuse a cold ratio outside 0…1 with one line on stderr', () => {
    const r = bench(['--cold-ratio', '1.5']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--cold-ratio.*expected a number from 0 to 1/);
  });
});

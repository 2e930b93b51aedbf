/**
 * `plume bench ocr --arrivals trace` (issue 14): after the sweep, both platforms replay the Azure trace's
 * arrival pattern; their rows carry the same arrivals and the contract's fields. Run on the text chain
 * (two trivial guests), which checks the harness in seconds; the numbers are not asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { runCliSync } from '../support/cli.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

describe('plume bench ocr --arrivals trace', () => {
  it('should add a plume/trace and a process-per-function/trace row on the same arrivals', { timeout: 240_000 }, () => {
    const r = runCliSync(['bench', 'ocr', '--quick', '--json', '--chain', 'text', '--arrivals', 'trace'], 230_000);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { results: Record<string, number | string>[] };
    const traced = doc.results.filter((row) => String(row['case']).endsWith('/trace'));
    assert.deepEqual(
      traced.map((row) => row['case']),
      hasRedis ? ['plume/trace', 'process-per-function/trace'] : ['plume/trace'],
    );
    for (const row of traced) {
      for (const f of ['rate_rps', 'n', 'errors', 'p50_ms', 'p90_ms', 'p99_ms', 'cold_starts'])
        assert.equal(typeof row[f], 'number', `${row['case']}.${f}`);
      assert.equal(row['errors'], 0);
      assert.equal(row['n'], traced[0]!['n'], 'the same arrivals');
      assert.ok(Number(row['n']) > 0);
    }
    assert.match(r.stderr, /p90 under the trace's arrivals/);
  });
});

/**
 * `plume bench cluster --quick --json` as a user runs it: a smoke run of the whole scenario (1, 2 and 3 nodes
 * in network namespaces, or on loopback) that checks the JSON contract and that every call was answered,
 * never its numbers (benchmarks are not timed tests).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { netnsUnavailable } from '../bench/support/netns.ts';
import { runCliSync } from './support/cli.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

interface Row {
  readonly case: string;
  readonly [field: string]: number | string;
}

describe('plume bench cluster', () => {
  it(
    'should print every case for 1, 2 and 3 nodes, saying where the nodes ran, with no failed call',
    { skip: hasRedis ? false : 'redis-server is not installed: the cluster runs Redis', timeout: 300_000 },
    () => {
      const r = runCliSync(['bench', 'cluster', '--quick', '--json'], 280_000);
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { scenario: string; node: string; cpus: number; results: Row[] };
      assert.equal(doc.scenario, 'cluster');
      assert.match(doc.node, /^v24\./);
      const mode = netnsUnavailable() === undefined ? 'netns' : 'loopback';
      const cases = (n: number): string[] => doc.results.filter((row) => row['nodes'] === n).map((row) => row.case);
      const common = ['throughput/burn', 'call/http-in-node'];
      assert.deepEqual(cases(1), [...common, 'async/accept', 'async/end-to-end']);
      assert.deepEqual(cases(2), [...common, 'call/http-cross-node', 'async/accept', 'async/end-to-end']);
      assert.deepEqual(cases(3), [...common, 'call/http-cross-node', 'async/accept', 'async/end-to-end', 'failover/peer-down']);
      for (const row of doc.results) {
        assert.equal(row['mode'], mode, row.case);
        if ('errors' in row) assert.equal(row['errors'], 0, `${row.case} (${row['nodes']} nodes) had failed calls`);
        if ('p50_ms' in row) {
          assert.ok(Number(row['n']) > 0, row.case);
          assert.ok(Number(row['p50_ms']) <= Number(row['p99_ms']), row.case);
        }
      }
      const throughput = doc.results.filter((row) => row.case === 'throughput/burn');
      assert.ok(throughput.every((row) => Number(row['throughput_rps']) > 0 && typeof row['speedup'] === 'number'));
      const failover = doc.results.find((row) => row.case === 'failover/peer-down')!;
      assert.ok(Number(failover['failover_ms']) > 0, 'a call was served by the surviving node within the bound');
      assert.match(String(failover['victim']), /^[ab]$/);
      const cross = doc.results.find((row) => row.case === 'call/http-cross-node' && row['nodes'] === 3)!;
      assert.equal(typeof cross['overhead_p50_ms'], 'number', 'the cross-node hop is compared with the in-node call');
      assert.match(r.stderr, /issue 11 targets/);
    },
  );
});

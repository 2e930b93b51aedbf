/**
 * Issue 11, Done means, across hosts: 1,000 async calls accepted across 3 nodes, each in its own network
 * namespace (loopback where namespaces cannot be made), while one node is SIGKILLed mid-run. Every result is
 * delivered, and every callback reaches a receiver in the root namespace on the bridge's address (allowed
 * by the harness's `--callback-allow` for the bridge's subnet) at least once, signed with the cluster
 * secret; duplicates are counted and printed. The case itself is test/support/async-kill.ts, shared with
 * the loopback test test/gateway/async-durable-kill.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../../bench/support/cluster.ts';
import { guest } from '../helpers.ts';
import { acceptThroughKill, describeReport, SignedHook } from '../support/async-kill.ts';
import { eventually } from '../support/redis.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

describe(
  '1,000 durable async calls across 3 hosts, one SIGKILLed',
  { skip: hasRedis ? false : 'redis-server is not installed', timeout: 240_000 },
  () => {
    let cluster: Cluster;
    let hook: SignedHook;
    let callback = '';

    before(async () => {
      cluster = await startCluster({
        nodes: 3,
        workers: 2,
        callbacks: true,
        args: () => ['--async-visibility-ms', '1500', '--callback-backoff-ms', '50'],
      });
      hook = new SignedHook(cluster.secret);
      callback = await hook.listen(cluster.clientAddress);
      const res = await fetch(`${cluster.nodes[0]!.url}/system/functions/conf`, {
        method: 'PUT',
        body: readFileSync(guest('conformance-c.wasm')),
      });
      assert.equal(res.status, 201, await res.text());
      // The registry tells every node; each consumes the stream, so each must serve conf before the run.
      for (const n of cluster.nodes) {
        await eventually(
          async () => assert.equal((await fetch(`${n.url}/function/conf`, { method: 'POST', body: 'sleep:1' })).status, 200),
          10_000,
        );
      }
    });
    after(async () => {
      hook?.close();
      await cluster?.close();
    });

    it('should deliver all 1,000 results and callbacks to the bridge address; duplicates counted', async (t) => {
      t.diagnostic(`mode: ${cluster.reason}; callbacks to ${callback}`);
      const victim = cluster.nodes[1]!;
      const victimId = victim.id;
      const report = await acceptThroughKill({
        nodes: cluster.nodes.map((n) => ({ url: n.url, id: n.id, kill: () => n.kill('SIGKILL') })),
        victim: 1,
        redisUrl: cluster.redis!.url,
        hook,
        callbackUrl: callback,
        fn: 'conf',
        input: 'sleep:50',
        expected: 'slept',
      });
      assert.equal(report.accepted, 1000);
      for (const line of describeReport(report, victimId)) t.diagnostic(line);
    });
  },
);

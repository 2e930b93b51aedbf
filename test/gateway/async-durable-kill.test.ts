/**
 * Issue 11, Done means: 1,000 async calls accepted across 3 `plume up` nodes on one Redis while one node
 * is SIGKILLed mid-run. Every result is then fetchable, every callback arrived at least once with a valid
 * signature, and duplicates (calls started again after their node was lost, callbacks delivered twice)
 * are counted and printed as test diagnostics. On loopback; test/cluster/done-async.test.ts runs the same
 * case (test/support/async-kill.ts) with the nodes in network namespaces.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { guest } from '../helpers.ts';
import { acceptThroughKill, describeReport, SignedHook, type AsyncNode } from '../support/async-kill.ts';
import { startUp, type UpNode } from '../support/cli.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

const SECRET = 'kill-test-secret';

describe('durable async calls across 3 nodes, one SIGKILLed', () => {
  let redis: RedisServer;
  const nodes: UpNode[] = [];
  const hook = new SignedHook(SECRET);
  let callback = '';

  before(async () => {
    redis = await startRedis();
    callback = await hook.listen('127.0.0.1');
    const args = ['--redis', redis.url, '--workers', '2', '--callback-allow', '127.0.0.1', '--callback-secret', SECRET];
    const knobs = ['--async-visibility-ms', '1500', '--callback-backoff-ms', '50'];
    for (let i = 0; i < 3; i++) nodes.push(await startUp([...args, ...knobs]));
    const conf = readFileSync(guest('conformance-c.wasm'));
    for (const n of nodes) {
      const res = await fetch(`${n.url}/system/functions/conf`, { method: 'PUT', body: conf });
      assert.equal(res.status, 201, await res.text());
    }
  });
  after(async () => {
    // Stop every node still running, even when the test failed half-way.
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) await n.stop();
    hook.close();
    await redis?.stop();
  });

  it('should deliver all 1,000 results and callbacks; duplicates counted', async (t) => {
    const targets: AsyncNode[] = nodes.map((n) => ({
      url: n.url,
      id: `${hostname()}-${n.child.pid}`,
      kill: async () => {
        n.child.kill('SIGKILL');
        await once(n.child, 'exit');
      },
    }));
    const report = await acceptThroughKill({
      nodes: targets,
      victim: 1,
      redisUrl: redis.url,
      hook,
      callbackUrl: callback,
      fn: 'conf',
      input: 'sleep:50',
      expected: 'slept',
    });
    for (const line of describeReport(report, targets[1]!.id)) t.diagnostic(line);
  });
});

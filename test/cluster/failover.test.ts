/**
 * Failover and drain (docs/cluster.md): calls that A's gateway sends to its peers while one of them is
 * SIGKILLed or SIGSTOPped (stateless calls are retried on another node, stateful ones fail with
 * PLUME_EPEER_LOST; a stopped node is silent, and found lost by its link's pings) or SIGTERMed (it drains:
 * no call fails, and it leaves the membership before it exits).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { guest } from '../helpers.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { call, deploy, killAll, memberIds, peerIds, startNode, until, type ClusterNode } from './membership-support.ts';

const SLOW = guest('conformance-c.wasm'); // input "sleep:N" sleeps N ms, then answers "slept"

describe('failover and drain', () => {
  let redis: RedisServer;
  let client: Redis;
  const nodes: ClusterNode[] = [];
  const start = async (id: string, ...args: string[]): Promise<ClusterNode> => {
    // Each node keeps its own deployments, so that a test decides which nodes serve a function.
    const n = await startNode(redis.url, id, '--local-registry', ...args);
    nodes.push(n);
    return n;
  };

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  after(async () => {
    await killAll(nodes);
    client?.disconnect();
    await redis?.stop();
  });

  it('should retry stateless calls on another node when the node running them is killed, and fail stateful ones with PLUME_EPEER_LOST', async () => {
    const [a, b, c] = await Promise.all([start('fa'), start('fb'), start('fc')]);
    await deploy(b!.url, 'slow', SLOW);
    await deploy(c!.url, 'slow', SLOW);
    await deploy(b!.url, 'stateful', SLOW, '?stateful=true');
    await until('a linked to b and c', async () => (await peerIds(a!.url)).join() === 'fb,fc');

    // Calls through A: it serves neither function, so every one runs on B or C.
    const stateless = Array.from({ length: 6 }, () => call(a!.url, 'slow', 'sleep:1500'));
    const stateful = Array.from({ length: 2 }, () => call(a!.url, 'stateful', 'sleep:1500'));
    // Kill B once it runs both functions: the stateful calls and some stateless ones are in flight there.
    await until('calls running on B', async () => (await busy(b!.url, 'stateful')) >= 1 && (await busy(b!.url, 'slow')) >= 1);
    await b!.kill();

    const done = await Promise.all(stateless);
    assert.deepEqual(
      done.map((r) => `${r.status} ${r.body}`),
      done.map(() => '200 slept'),
    );
    for (const r of await Promise.all(stateful)) {
      assert.equal(r.status, 502, r.body);
      const { error } = JSON.parse(r.body) as { error: { code: string; message: string } };
      assert.equal(error.code, 'PLUME_EPEER_LOST');
      assert.match(error.message, /node fb was lost while running stateful function 'stateful'/);
    }
    // With B gone the stateless function still runs, on C.
    assert.deepEqual(await call(a!.url, 'slow', 'sleep:1'), { status: 200, body: 'slept' });
  });

  it('should retry stateless calls on another node when the node running them stops answering (SIGSTOP, no FIN), fail stateful ones with PLUME_EPEER_LOST, and use it again once it answers', async () => {
    const [a, b, c] = await Promise.all([start('ta'), start('tb'), start('tc')]);
    try {
      // Names of their own: the other tests' nodes serve `slow` and `stateful` too.
      await deploy(b!.url, 'slow-t', SLOW);
      await deploy(c!.url, 'slow-t', SLOW);
      await deploy(b!.url, 'stateful-t', SLOW, '?stateful=true');
      await until('a knows what b and c serve', async () => {
        const [tb, tc] = [await linkOf(a!.url, 'tb'), await linkOf(a!.url, 'tc')];
        return tb?.functions.join() === 'slow-t,stateful-t' && tc?.functions.join() === 'slow-t';
      });

      const stateless = Array.from({ length: 6 }, () => call(a!.url, 'slow-t', 'sleep:1500'));
      const stateful = Array.from({ length: 2 }, () => call(a!.url, 'stateful-t', 'sleep:1500'));
      await until('calls running on B', async () => (await busy(b!.url, 'stateful-t')) >= 1 && (await busy(b!.url, 'slow-t')) >= 1);
      // B's process stops but its sockets stay open: no FIN, no RST, only silence (its pings go unanswered).
      process.kill(b!.child.pid!, 'SIGSTOP');
      try {
        for (const r of await Promise.all(stateful)) {
          assert.equal(r.status, 502, r.body);
          assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'PLUME_EPEER_LOST');
        }
        assert.equal((await linkOf(a!.url, 'tb'))?.down, true, 'a holds its link to the silent node as down');
        // Calls made while B is silent go to C at once.
        assert.deepEqual(await call(a!.url, 'slow-t', 'sleep:1'), { status: 200, body: 'slept' });
      } finally {
        process.kill(b!.child.pid!, 'SIGCONT');
      }
      const done = await Promise.all(stateless);
      assert.deepEqual(
        done.map((r) => `${r.status} ${r.body}`),
        done.map(() => '200 slept'),
      );
      // B answers again: A links to it again and sends it calls (only B serves the stateful function).
      await until('a links to tb again', async () => (await linkOf(a!.url, 'tb'))?.down === false, 15_000);
      assert.deepEqual(await call(a!.url, 'stateful-t', 'sleep:1'), { status: 200, body: 'slept' });
    } finally {
      await killAll([a, b, c]);
    }
  });

  it('should run a call spread to a peer that is killed here, when no other peer serves the function', async () => {
    const [a, b] = await Promise.all([start('sa'), start('sb')]);
    await deploy(a!.url, 'slow', SLOW);
    await deploy(b!.url, 'slow', SLOW);
    // B's deploy reaches A's catalog with B's next renewal (its record lists the functions it serves).
    await until('sa knows sb serves slow', async () => {
      const peers = (await (await fetch(`${a!.url}/system/peers`)).json()) as { node: string; functions: string[] }[];
      return peers.some((p) => p.node === 'sb' && p.functions.includes('slow'));
    });
    // A's one worker holds many calls at once: past two per worker A spreads some to B.
    const calls = Array.from({ length: 8 }, () => call(a!.url, 'slow', 'sleep:1500'));
    await until('calls spread to sb', async () => (await busy(b!.url, 'slow')) >= 1);
    await b!.kill();
    const done = await Promise.all(calls);
    assert.deepEqual(
      done.map((r) => `${r.status} ${r.body}`),
      done.map(() => '200 slept'),
    );
  });

  it('should drain on SIGTERM under load with zero failed calls, and leave the membership before it exits', async () => {
    const [a, d, e] = await Promise.all([start('da'), start('dd'), start('de')]);
    await deploy(d!.url, 'slow', SLOW);
    await deploy(e!.url, 'slow', SLOW);
    await deploy(d!.url, 'stateful', SLOW, '?stateful=true');
    await until('da linked to dd and de', async () => (await peerIds(a!.url)).includes('dd') && (await peerIds(a!.url)).includes('de'));

    let stop = false;
    const failures: string[] = [];
    let ok = 0;
    // Four clients of A, each calling again as soon as it has an answer; D and E share the calls.
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const r = await call(a!.url, 'slow', 'sleep:100');
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${r.body}`);
      }
    });
    // Calls sent straight to D before the SIGTERM: they are in flight there when it starts to drain.
    await sleep(500);
    const direct = Array.from({ length: 2 }, () => call(d!.url, 'slow', 'sleep:300'));
    // Stateful calls A sent to D, which only D serves: never retried elsewhere, they outlast the leave notice
    // and the gateway's close, so only the drain of the peer servers lets them finish.
    const stateful = Array.from({ length: 2 }, () => call(a!.url, 'stateful', 'sleep:1200'));
    await until('calls running on D', async () => (await busy(d!.url, 'stateful')) >= 1 && (await busy(d!.url, 'slow')) >= 1);
    d!.child.kill('SIGTERM');
    const code = await d!.exited();
    const exitedAt = performance.now();
    const gone = !(await memberIds(client)).includes('dd');
    await until('a no longer links to dd', async () => !(await peerIds(a!.url)).includes('dd'), 1000);
    assert.ok(performance.now() - exitedAt <= 1000);
    await sleep(300); // more calls after D's exit: all go to E
    stop = true;
    await Promise.all(clients);

    assert.equal(code, 0, d!.stderr());
    assert.ok(gone, 'dd deregistered before it exited');
    assert.deepEqual(failures, []);
    assert.ok(ok > 10, `only ${ok} calls answered`);
    assert.deepEqual(
      (await Promise.all(direct)).map((r) => `${r.status} ${r.body}`),
      ['200 slept', '200 slept'],
    );
    assert.deepEqual(
      (await Promise.all(stateful)).map((r) => `${r.status} ${r.body}`),
      ['200 slept', '200 slept'],
    );
    assert.match(d!.stderr(), /membership: left the cluster as dd/);
  });

  it('should answer /readyz 503 while draining, and cut calls off after --drain-timeout', async () => {
    const n = await start('dt', '--drain-timeout', '1500');
    await deploy(n.url, 'slow', SLOW);
    const long = call(n.url, 'slow', 'sleep:8000').catch((err: Error) => ({ status: 0, body: err.message }));
    await until('the call running', async () => (await busy(n.url, 'slow')) >= 1);
    n.child.kill('SIGTERM');
    // The leave notice (500 ms): the node still answers, and says it is not ready.
    let failing: string[] = [];
    await until('readyz 503', async () => {
      const ready = await fetch(`${n.url}/readyz`);
      failing = ready.status === 503 ? ((await ready.json()) as { failing: { name: string }[] }).failing.map((f) => f.name) : [];
      return ready.status === 503;
    });
    assert.deepEqual(failing, ['accepting', 'registered']);
    assert.equal(await n.exited(), 1);
    assert.match(n.stderr(), /drain timeout: calls still running after 1500 ms are cut off/);
    assert.notEqual((await long).status, 200);
  });
});

/** What a gateway's /system/peers says of its link to `node`. */
async function linkOf(url: string, node: string): Promise<{ node: string; functions: string[]; down: boolean } | undefined> {
  const peers = (await (await fetch(`${url}/system/peers`)).json()) as { node: string; functions: string[]; down: boolean }[];
  return peers.find((p) => p.node === node);
}

/** Busy instances of a function on a node, from its /metrics. */
async function busy(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`plume_instances{function="${name}",state="busy"}`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

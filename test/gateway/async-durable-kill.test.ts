/**
 * Issue 11, Done means: 1,000 async calls accepted across 3 `plume up` nodes on one Redis while one node
 * is SIGKILLed mid-run. Every result is then fetchable, every callback arrived at least once with a valid
 * signature, and duplicates (calls started again after their node was lost, callbacks delivered twice)
 * are counted and printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { guest } from '../helpers.ts';
import { startUp, type UpNode } from '../support/cli.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

const SECRET = 'kill-test-secret';
const CALLS = 1000;
const KILL_AFTER = 300;

function verified(headers: IncomingHttpHeaders, body: Buffer): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers['x-plume-signature'] ?? ''));
  if (!m) return false;
  const mac = createHmac('sha256', SECRET)
    .update(`${m[1]}.${String(headers['x-call-id'])}.`)
    .update(body)
    .digest();
  return timingSafeEqual(mac, Buffer.from(m[2]!, 'hex'));
}

async function until(what: string, ok: () => boolean | Promise<boolean>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('durable async calls across 3 nodes, one SIGKILLed', () => {
  let redis: RedisServer;
  let client: Redis;
  const nodes: UpNode[] = [];
  const deliveries = new Map<string, number>();
  let badSignatures = 0;
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['x-call-id']);
      if (!verified(req.headers, Buffer.concat(chunks))) badSignatures++;
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
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
    client?.disconnect();
    hook.close();
    await redis?.stop();
  });

  it('should deliver all 1,000 results and callbacks; duplicates counted', async (t) => {
    const callback = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
    const victim = nodes[1]!;
    const victimId = `${hostname()}-${victim.child.pid}`;
    const ids: string[] = [];
    let killed = false;
    let claimedByVictim: string[] = [];

    let next = 0;
    let resent = 0;
    const accept = async (): Promise<void> => {
      while (next < CALLS) {
        const i = next++;
        // Round robin over the live nodes. A POST in flight to the victim when it dies gets no answer: the
        // client cannot know whether it was accepted, and sends it to a live node (counted: if the victim
        // had stored it, it runs too, as a call nobody holds an id of).
        let res: Response | undefined;
        for (let attempt = 0; !res; attempt++) {
          const live = killed ? nodes.filter((n) => n !== victim) : nodes;
          const node = live[(i + attempt) % live.length]!;
          try {
            res = await fetch(`${node.url}/async-function/conf`, {
              method: 'POST',
              body: 'sleep:50',
              headers: { 'x-callback-url': callback },
            });
          } catch (err) {
            if (node !== victim || attempt > 3) throw err;
            resent++;
          }
        }
        assert.equal(res.status, 202, await res.text());
        ids.push(res.headers.get('x-call-id')!);
        if (ids.length === KILL_AFTER && !killed) {
          // What the victim holds right now: calls claimed (and maybe running) that it will never settle.
          const pending = (await client.xpending('plume:cluster:async', 'plume', '-', '+', 1000, victimId)) as [string][];
          claimedByVictim = pending.map((p) => p[0]);
          killed = true;
          victim.child.kill('SIGKILL');
          await once(victim.child, 'exit');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, accept));
    assert.equal(ids.length, CALLS);
    assert.ok(killed);
    assert.ok(claimedByVictim.length > 0, 'the victim should have held calls when it was killed');

    const survivors = nodes.filter((n) => n !== victim);
    let runsTotal = 0;
    let rerun = 0;
    const byNode = new Map<string, number>();
    for (const [k, id] of ids.entries()) {
      const url = `${survivors[k % 2]!.url}/async-function/conf/${id}`;
      let res = await fetch(url);
      for (let i = 0; res.status === 202 && i < 600; i++) {
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 50));
        res = await fetch(url);
      }
      assert.equal(res.status, 200, `call ${id}: ${res.status}`);
      assert.equal(await res.text(), 'slept');
      const runs = Number(res.headers.get('x-call-runs'));
      assert.ok(runs >= 1);
      runsTotal += runs;
      if (runs > 1) rerun++;
      const node = res.headers.get('x-call-node')!;
      byNode.set(node, (byNode.get(node) ?? 0) + 1);
    }

    await until('a callback for every call', () => ids.every((id) => (deliveries.get(id) ?? 0) >= 1), 60_000);
    assert.equal(badSignatures, 0);
    const extraCallbacks = [...deliveries.values()].reduce((sum, n) => sum + n - 1, 0);
    // Settled entries are deleted from the stream: it ends empty, with nothing pending in the group.
    await until('an empty stream', async () => (await client.xlen('plume:cluster:async')) === 0, 30_000);
    t.diagnostic(`accepts resent to a live node after the victim died mid-request: ${resent}`);
    t.diagnostic(`victim ${victimId} held ${claimedByVictim.length} calls when killed`);
    t.diagnostic(`results by node: ${JSON.stringify(Object.fromEntries(byNode))}`);
    t.diagnostic(`calls started more than once: ${rerun} (${runsTotal - CALLS} extra runs)`);
    t.diagnostic(`duplicate callbacks: ${extraCallbacks} (${deliveries.size} calls called back)`);
  });
});

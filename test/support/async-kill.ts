/**
 * Issue 11's durable async case, shared by the loopback test (test/gateway/async-durable-kill.test.ts) and
 * the network-namespace one (test/cluster/done-async.test.ts): N async calls accepted round robin across
 * the nodes while one is SIGKILLed mid-run; then every result must be fetchable from a survivor and every
 * callback must have reached a receiver at least once with a valid signature. Duplicates (calls run again
 * after their node was lost, callbacks delivered twice) are counted, never failed on: at-least-once.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

const STREAM = 'plume:cluster:async';

/** A node as this case needs it: where to send calls, its cluster id, and how to kill it. */
export interface AsyncNode {
  readonly url: string;
  readonly id: string;
  kill(): Promise<void>;
}

/** Receives callbacks, checks each one's `X-Plume-Signature` against `secret`, and counts deliveries per call. */
export class SignedHook {
  readonly deliveries = new Map<string, number>();
  badSignatures = 0;
  readonly #secret: string;
  readonly #server: Server;

  constructor(secret: string) {
    this.#secret = secret;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const id = String(req.headers['x-call-id']);
        if (!this.verified(req.headers, Buffer.concat(chunks))) this.badSignatures++;
        this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
  }

  /** Listens on `host` (a free port); resolves with the callback URL. */
  async listen(host: string): Promise<string> {
    this.#server.listen(0, host);
    await once(this.#server, 'listening');
    return `http://${host}:${(this.#server.address() as AddressInfo).port}/done`;
  }

  verified(headers: IncomingHttpHeaders, body: Buffer): boolean {
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers['x-plume-signature'] ?? ''));
    if (!m) return false;
    const mac = createHmac('sha256', this.#secret)
      .update(`${m[1]}.${String(headers['x-call-id'])}.`)
      .update(body)
      .digest();
    return timingSafeEqual(mac, Buffer.from(m[2]!, 'hex'));
  }

  close(): void {
    this.#server.close();
  }
}

export interface AsyncKillOptions {
  readonly nodes: readonly AsyncNode[];
  /** Index of the node killed once `killAfter` calls are accepted. */
  readonly victim: number;
  readonly redisUrl: string;
  readonly hook: SignedHook;
  readonly callbackUrl: string;
  /** A function every node serves that answers `expected` to `input` (conformance-c: 'sleep:50' → 'slept'). */
  readonly fn: string;
  readonly input: string;
  readonly expected: string;
  readonly calls?: number;
  readonly killAfter?: number;
  /** Clients sending at once; default 16. */
  readonly concurrency?: number;
}

export interface AsyncKillReport {
  readonly accepted: number;
  /** Accepts sent again to a live node because the victim died with the POST in flight. */
  readonly resent: number;
  /** Calls the victim had claimed (XPENDING) when it was killed. */
  readonly claimedByVictim: number;
  readonly byNode: Record<string, number>;
  /** Calls that ran more than once, and the extra runs in all. */
  readonly rerun: number;
  readonly extraRuns: number;
  readonly extraCallbacks: number;
  readonly calledBack: number;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the case and asserts what must hold; returns the counts for the test to print. */
export async function acceptThroughKill(options: AsyncKillOptions): Promise<AsyncKillReport> {
  const { nodes, hook, fn } = options;
  const calls = options.calls ?? 1000;
  const killAfter = options.killAfter ?? 300;
  const victim = nodes[options.victim]!;
  const client = new Redis(options.redisUrl);
  try {
    const ids: string[] = [];
    let killed = false;
    let claimedByVictim: string[] = [];
    let next = 0;
    let resent = 0;
    const accept = async (): Promise<void> => {
      while (next < calls) {
        const i = next++;
        // Round robin over the live nodes. A POST in flight to the victim when it dies gets no answer: the
        // client cannot know whether it was accepted, and sends it to a live node (counted: if the victim
        // had stored it, it runs too, as a call nobody holds an id of).
        let res: Response | undefined;
        for (let attempt = 0; !res; attempt++) {
          const live = killed ? nodes.filter((n) => n !== victim) : nodes;
          const node = live[(i + attempt) % live.length]!;
          try {
            res = await fetch(`${node.url}/async-function/${fn}`, {
              method: 'POST',
              body: options.input,
              headers: { 'x-callback-url': options.callbackUrl },
            });
          } catch (err) {
            if (node !== victim || attempt > 3) throw err;
            resent++;
          }
        }
        assert.equal(res.status, 202, await res.text());
        ids.push(res.headers.get('x-call-id')!);
        if (ids.length === killAfter && !killed) {
          // What the victim holds right now: calls claimed (and maybe running) that it will never settle.
          const pending = (await client.xpending(STREAM, 'plume', '-', '+', 1000, victim.id)) as [string][];
          claimedByVictim = pending.map((p) => p[0]);
          killed = true;
          await victim.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, accept));
    assert.equal(ids.length, calls);
    assert.ok(killed);
    assert.ok(claimedByVictim.length > 0, 'the victim should have held calls when it was killed');

    const survivors = nodes.filter((n) => n !== victim);
    let runsTotal = 0;
    let rerun = 0;
    const byNode: Record<string, number> = {};
    for (const [k, id] of ids.entries()) {
      const url = `${survivors[k % survivors.length]!.url}/async-function/${fn}/${id}`;
      let res = await fetch(url);
      for (let i = 0; res.status === 202 && i < 600; i++) {
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 50));
        res = await fetch(url);
      }
      assert.equal(res.status, 200, `call ${id}: ${res.status}`);
      assert.equal(await res.text(), options.expected);
      const runs = Number(res.headers.get('x-call-runs'));
      assert.ok(runs >= 1);
      runsTotal += runs;
      if (runs > 1) rerun++;
      const node = res.headers.get('x-call-node')!;
      byNode[node] = (byNode[node] ?? 0) + 1;
    }

    await until('a callback for every call', () => ids.every((id) => (hook.deliveries.get(id) ?? 0) >= 1), 60_000);
    assert.equal(hook.badSignatures, 0);
    const extraCallbacks = [...hook.deliveries.values()].reduce((sum, n) => sum + n - 1, 0);
    // Settled entries are deleted from the stream: it ends empty, with nothing pending in the group.
    await until('an empty stream', async () => (await client.xlen(STREAM)) === 0, 30_000);
    return {
      accepted: ids.length,
      resent,
      claimedByVictim: claimedByVictim.length,
      byNode,
      rerun,
      extraRuns: runsTotal - calls,
      extraCallbacks,
      calledBack: hook.deliveries.size,
    };
  } finally {
    client.disconnect();
  }
}

/** The report as test diagnostics. */
export function describeReport(report: AsyncKillReport, victimId: string): string[] {
  return [
    `accepts resent to a live node after the victim died mid-request: ${report.resent}`,
    `victim ${victimId} held ${report.claimedByVictim} calls when killed`,
    `results by node: ${JSON.stringify(report.byNode)}`,
    `calls started more than once: ${report.rerun} (${report.extraRuns} extra runs)`,
    `duplicate callbacks: ${report.extraCallbacks} (${report.calledBack} calls called back)`,
  ];
}

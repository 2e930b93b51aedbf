/**
 * `plume bench cluster`: 1, 2 and 3 `plume up` nodes, each a process in its own network namespace (veths and
 * a bridge; loopback where namespaces cannot be made; every row says which), Redis in one more
 * (bench/support/cluster.ts). The last node links to the others (`--peer`, today's main); the client runs in
 * this process. Cases:
 *
 * - `throughput/burn`: a CPU-bound guest (bench/guests/burn.wasm) called through every node's gateway at
 *   once, two calls in flight per node; `speedup` is over the 1-node row with the same `rounds`, same run.
 * - `call/http-in-node`, `call/http-cross-node`: a no-op, one call at a time, the two interleaved, through the
 *   last node's `/function/:name`: `noop` it serves itself, and `noop-a`, which only node a serves, so the
 *   gateway forwards it over an authenticated peer link. `overhead_*` is their difference, same run.
 * - `async/accept`, `async/end-to-end`: `POST /async-function/noop` to each node in turn (the call goes to
 *   the Redis stream before the 202), from the request to the 202, and to its callback arriving here (the
 *   nodes get `--callback-allow` for the bridge's subnet, where the receiver listens).
 * - `failover/peer-down` (3 nodes): of nodes a and b, which both serve `who` for the last node's gateway, the
 *   one serving its calls is SIGKILLed; the time from the kill to the first call served by the other, and
 *   the calls that failed before. `failover/host-lost` (netns, without --quick): the same after the victim
 *   restarted, but its link is cut before the kill, so no FIN reaches anyone, as when a host loses power:
 *   the caller's link finds it lost when its pings go unanswered for `--peer-timeout-ms` (default 1 s).
 *
 * The nodes find each other through Redis (`--redis`, no `--peer`; `discovery: 'peer'` for the old links)
 * and prove a cluster secret on every peer link (the harness makes one). Each keeps its deployments to
 * itself (`--local-registry`, in its own data directory), so that a function can live on one node only; a
 * restarted node loads them again, with no deploy by hand.
 */
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type Cluster, type ClusterNode } from './support/cluster.ts';
import { CallbackReceiver, closeClients, post } from './cluster-client.ts';
import { latency, round, type CaseResult } from './report.ts';

const file = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const NOOP = file('../examples/noop/noop.wasm');
const BURN = file('./guests/burn.wasm');

interface Plan {
  readonly calls: number;
  readonly asyncCalls: number;
  readonly throughputMs: number;
  /**
   * burn.wasm rounds per call (~2.5 ns each here): ~3 ms of CPU, under the watchdog's 5 ms demotion
   * (src/executor/watchdog.ts, DEMOTE_AFTER_MS), and ~13 ms, over it.
   */
  readonly rounds: readonly number[];
  readonly failoverBoundMs: number;
  readonly hostLost: boolean;
}

const FULL: Plan = {
  calls: 1000,
  asyncCalls: 500,
  throughputMs: 5000,
  rounds: [1_000_000, 5_000_000],
  failoverBoundMs: 30_000,
  hostLost: true,
};
const QUICK: Plan = { calls: 60, asyncCalls: 40, throughputMs: 1200, rounds: [1_000_000], failoverBoundMs: 15_000, hostLost: false };

export interface ClusterBenchOptions {
  readonly quick: boolean;
  /** How the nodes find each other; default the harness's (`$PLUME_CLUSTER_DISCOVERY`, else `--peer` links). */
  readonly discovery?: 'peer' | 'redis';
  readonly progress: (label: string) => void;
  /** Cluster sizes to run; default 1, 2, 3. */
  readonly sizes?: readonly number[];
}

export async function clusterBench(options: ClusterBenchOptions): Promise<CaseResult[]> {
  const plan = options.quick ? QUICK : FULL;
  const rows: CaseResult[] = [];
  try {
    for (const n of options.sizes ?? [1, 2, 3]) {
      options.progress(`${n} node${n > 1 ? 's' : ''}: starting`);
      const cluster = await startCluster({
        nodes: n,
        peers: (i) => (i === n - 1 ? [...Array(n - 1).keys()] : []),
        args: () => ['--local-registry'],
        callbacks: true,
        ...(options.discovery ? { discovery: options.discovery } : {}),
      });
      // On this cluster's bridge (each cluster has its own), where its nodes can reach it.
      const receiver = new CallbackReceiver();
      try {
        await receiver.listen(cluster.clientAddress);
        const base = { nodes: n, mode: cluster.mode };
        await prepare(cluster);
        options.progress(`${n} node${n > 1 ? 's' : ''} (${cluster.mode}): throughput`);
        for (const rounds of plan.rounds) rows.push({ case: 'throughput/burn', ...base, ...(await throughput(cluster, plan, rounds)) });
        options.progress(`${n} node${n > 1 ? 's' : ''}: calls`);
        for (const [name, stats] of await calls(cluster, plan)) rows.push({ case: name, ...base, ...stats });
        options.progress(`${n} node${n > 1 ? 's' : ''}: async`);
        for (const [name, stats] of await asyncCalls(cluster, receiver, plan)) rows.push({ case: name, ...base, ...stats });
        if (n >= 3) {
          options.progress('3 nodes: failover (peer down)');
          rows.push({ case: 'failover/peer-down', ...base, ...(await measureFailover(cluster, 'peer-down', plan.failoverBoundMs)) });
          if (plan.hostLost && cluster.mode === 'netns') {
            options.progress('3 nodes: failover (host lost)');
            await restore(cluster);
            rows.push({ case: 'failover/host-lost', ...base, ...(await measureFailover(cluster, 'host-lost', plan.failoverBoundMs)) });
          }
        }
      } finally {
        await receiver.close();
        await cluster.close();
      }
    }
  } finally {
    closeClients();
  }
  const single = (rounds: unknown): unknown =>
    rows.find((r) => r.case === 'throughput/burn' && r['nodes'] === 1 && r['rounds'] === rounds)?.['throughput_rps'];
  return rows.map((r) => {
    const one = r.case === 'throughput/burn' ? single(r['rounds']) : undefined;
    return typeof one === 'number' ? { ...r, speedup: round(Number(r['throughput_rps']) / one) } : r;
  });
}

async function deploy(node: ClusterNode, name: string, module: string, query = ''): Promise<void> {
  const res = await fetch(`${node.url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module) });
  if (res.status !== 201) throw new Error(`deploy ${name} on node ${node.name}: ${res.status} ${await res.text()}`);
}

async function prepare(cluster: Cluster): Promise<void> {
  const { nodes } = cluster;
  for (const node of nodes) {
    await deploy(node, 'noop', NOOP);
    await deploy(node, 'burn', BURN, `?env=NODE=${node.name}`);
  }
  if (nodes.length >= 2) await deploy(nodes[0]!, 'noop-a', NOOP);
  if (nodes.length >= 3) for (const node of nodes.slice(0, 2)) await deploy(node, 'who', BURN, `?env=NODE=${node.name}`);
  // The caller links to every other node and knows what each serves (their records, renewed every second).
  const caller = nodes.at(-1)!;
  const wanted = nodes.length >= 3 ? 'who' : 'noop-a';
  for (let i = 0; nodes.length >= 2; i++) {
    const peers = await peersOf(caller);
    const serving = peers.filter((p) => p.functions.includes(wanted)).length;
    if (peers.length === nodes.length - 1 && serving === Math.min(2, nodes.length - 1)) break;
    if (i >= 200) throw new Error(`node ${caller.name} did not learn its peers' functions within 10 s: ${JSON.stringify(peers)}`);
    await sleep(50);
  }
}

/** The peers a node links to, with the functions each serves. */
async function peersOf(node: ClusterNode): Promise<{ node: string; functions: string[] }[]> {
  const res = await fetch(`${node.url}/system/peers`);
  if (res.status !== 200) throw new Error(`/system/peers on node ${node.name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { node: string; functions: string[] }[];
}

async function throughput(cluster: Cluster, plan: Plan, rounds: number): Promise<Record<string, number>> {
  const urls = cluster.nodes.map((n) => `${n.url}/function/burn`);
  const body = String(rounds);
  for (const url of urls) await post(url, body); // warm: each node's first instance
  const concurrency = 2 * urls.length;
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const end = started + plan.throughputMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const url = urls[next++ % urls.length]!;
        try {
          const r = await post(url, body);
          if (r.status === 200) samples.push(r.ms);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    rounds,
    concurrency,
    errors,
    throughput_rps: round(samples.length / seconds),
    ...latency(samples),
    load1: round(loadavg()[0]!),
  };
}

/** The three no-op paths interleaved, one call at a time, so that the machine's noise hits them alike. */
async function calls(cluster: Cluster, plan: Plan): Promise<[string, Record<string, number>][]> {
  const caller = cluster.nodes.at(-1)!;
  const paths: [string, string][] = [['call/http-in-node', `${caller.url}/function/noop`]];
  if (cluster.nodes.length >= 2) paths.push(['call/http-cross-node', `${caller.url}/function/noop-a`]);
  const samples = paths.map((): number[] => []);
  const errors = paths.map(() => 0);
  for (let i = 0; i < plan.calls + 20; i++) {
    for (const [k, [, url]] of paths.entries()) {
      const r = await post(url, '');
      if (r.status !== 200) errors[k]!++;
      else if (i >= 20) samples[k]!.push(r.ms); // the first 20 rounds warm the paths
    }
  }
  const stats = samples.map((s, k) => ({ ...latency(s), errors: errors[k]! }));
  const rows: [string, Record<string, number>][] = paths.map(([name], k) => [name, stats[k]!]);
  if (paths.length === 2) {
    const [inNode, cross] = [stats[0]!, stats[1]!];
    rows[1]![1] = {
      ...rows[1]![1],
      overhead_p50_ms: round(cross.p50_ms - inNode.p50_ms),
      overhead_p99_ms: round(cross.p99_ms - inNode.p99_ms),
    };
  }
  return rows;
}

async function asyncCalls(cluster: Cluster, receiver: CallbackReceiver, plan: Plan): Promise<[string, Record<string, number>][]> {
  const accept: number[] = [];
  const endToEnd: number[] = [];
  let errors = 0;
  for (let i = 0; i < plan.asyncCalls + 10; i++) {
    const node = cluster.nodes[i % cluster.nodes.length]!;
    const started = performance.now();
    const r = await post(`${node.url}/async-function/noop`, '', { 'x-callback-url': receiver.url });
    const id = String(r.headers['x-call-id'] ?? '');
    if (r.status !== 202 || !id) {
      errors++;
      continue;
    }
    const arrived = await receiver.arrival(id).catch(() => undefined);
    if (arrived === undefined) errors++;
    else if (i >= 10) {
      accept.push(r.ms);
      endToEnd.push(arrived - started);
    }
  }
  return [
    ['async/accept', { ...latency(accept), errors }],
    ['async/end-to-end', { ...latency(endToEnd), errors }],
  ];
}

/**
 * Nodes a and b both serve `who` (its output starts with the node's name); the caller (last node) serves it
 * not, so each of its calls runs on one of them. The one that served the caller's latest call is the victim.
 * The fault at t0: `peer-down` is a SIGKILL (the kernel closes the victim's sockets, so the caller's link
 * sees the close at once and retries a call in flight elsewhere); `host-lost` cuts the victim's link first,
 * so the caller hears nothing and finds out when its link to the victim has heard nothing for the peer
 * timeout (pings unanswered, docs/dataplane.md, Liveness): the call in flight there is then retried.
 * Then calls one after another (each given at most 2 s) until one is served by the other node:
 * `failover_ms` is t0 to that answer, -1 if none came within `boundMs`.
 */
export async function measureFailover(
  cluster: Cluster,
  how: 'peer-down' | 'host-lost',
  boundMs: number,
): Promise<Record<string, number | string>> {
  const caller = cluster.nodes.at(-1)!;
  const url = `${caller.url}/function/who`;
  const servedBy = async (timeoutMs: number): Promise<string | undefined> => {
    const r = await post(url, '0', {}, timeoutMs).catch(() => undefined);
    return r?.status === 200 ? r.body.split(' ')[0] : undefined;
  };
  let last: string | undefined;
  for (let i = 0; i < 5; i++) last = await servedBy(5000);
  const victim = cluster.nodes.findIndex((n) => n.name === last);
  if (victim !== 0 && victim !== 1) throw new Error(`before the fault node a or b should serve who, got ${last ?? 'an error'}`);
  const other = cluster.nodes[1 - victim]!.name;
  const t0 = performance.now();
  if (how === 'host-lost') cluster.cut(victim);
  await cluster.nodes[victim]!.kill('SIGKILL');
  let failed = 0;
  let who: string | undefined;
  while (performance.now() - t0 < boundMs) {
    who = await servedBy(Math.min(2000, Math.max(1, boundMs - (performance.now() - t0))));
    if (who === other) break;
    failed++;
  }
  const ms = who === other ? round(performance.now() - t0) : -1;
  return {
    failover_ms: ms,
    failed_calls: failed,
    bound_ms: boundMs,
    victim: cluster.nodes[victim]!.name,
    detected_by: how === 'peer-down' ? 'socket-close' : 'peer-timeout',
  };
}

/** After `peer-down`: the killed node back on its address, serving its functions at once (its data directory), and linked again. */
async function restore(cluster: Cluster): Promise<void> {
  const down = cluster.nodes.slice(0, 2).find((n) => !n.running);
  if (!down) throw new Error('restore: neither node a nor b is down');
  await down.restart();
  for (const fn of ['who', 'burn']) {
    const r = await post(`${down.url}/function/${fn}`, '0');
    if (r.status !== 200) throw new Error(`node ${down.name}, restarted, does not serve ${fn} at once: ${r.status} ${r.body}`);
  }
  const caller = cluster.nodes.at(-1)!;
  for (let i = 0; i < 200; i++) {
    const peer = (await peersOf(caller)).find((p) => p.node === down.id);
    if (peer?.functions.includes('who')) return;
    await sleep(50);
  }
  throw new Error(`node ${down.name}, restarted, was not linked again by the caller within 10 s`);
}

/** The issue's targets next to this run's numbers (stderr; never in the JSON). */
export function clusterVerdict(results: readonly CaseResult[]): string {
  const pick = (c: string, field: string): number | undefined => {
    const row = results.filter((r) => r.case === c).at(-1);
    return typeof row?.[field] === 'number' ? row[field] : undefined;
  };
  const line = (what: string, value: number | undefined, target: number, unit: string): string =>
    `${what.padEnd(48)}${(value === undefined ? 'not measured' : `${value} ${unit}`).padEnd(14)}target ≤ ${target} ${unit}${
      value === undefined ? '' : value >= 0 && value <= target ? '  met' : '  NOT met'
    }`;
  return [
    'issue 11 targets (this run):',
    line('cross-node no-op call p50 (/function hop)', pick('call/http-cross-node', 'p50_ms'), 0.5, 'ms'),
    line('cross-node overhead p50 (vs in-node)', pick('call/http-cross-node', 'overhead_p50_ms'), 0.5, 'ms'),
    line('failover, peer down (kill → served elsewhere)', pick('failover/peer-down', 'failover_ms'), 2000, 'ms'),
    line('failover, host lost', pick('failover/host-lost', 'failover_ms'), 2000, 'ms'),
    line('async accept p99', pick('async/accept', 'p99_ms'), 5, 'ms'),
  ].join('\n');
}

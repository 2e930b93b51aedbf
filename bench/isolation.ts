/**
 * `plume bench isolation`: what hostile guests cost a well-behaved neighbour. Echo's throughput and latency
 * over the gateway alone, then with 1 and with 4 clients calling each hostile behaviour of
 * bench/guests/hostile.c at the same time — an infinite loop, a stack overflow, a memory bomb (malloc until
 * the function's memory limit) and a trap — all on one node, in one run. Echo must never fail, and keep
 * its throughput and tail latency near what it had alone (the targets of issue 12).
 *
 * Echo's clients and the hostile clients run in two child processes (bench/gateway-load.ts): a client in
 * the node's process would share its event loop, and the hostile clients' waits would slow echo's.
 */
import { fileURLToPath } from 'node:url';
import { startGateway } from '../src/gateway/index.ts';
import { Plume } from '../src/runtime.ts';
import type { LoadJob, LoadResult } from './gateway-load.ts';
import { loadGenerator, run } from './gateway.ts';
import { latency, round, type CaseResult } from './report.ts';

const file = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Behaviours of the hostile guest, by the case name they get here. */
const HOSTILE: readonly (readonly [string, string])[] = [
  ['loop', 'loop'],
  ['stack-overflow', 'stack'],
  ['memory-bomb', 'oom'],
  ['trap', 'trap'],
];
export const ALONE = 'echo/alone';
const ECHO_CLIENTS = 4;
const ECHO_BYTES = 1024;
/** The hostile function's limits: what a platform team would set; a loop is stopped after 1 s. */
const HOSTILE_LIMITS = { timeoutMs: 1000, memoryMb: 256 };

export async function isolation(options: { quick: boolean; progress: (label: string) => void; workers?: number }): Promise<CaseResult[]> {
  const timing = options.quick ? { warmupMs: 200, durationMs: 1000 } : { warmupMs: 500, durationMs: 4000 };
  const hostileClients = options.quick ? [1] : [1, 4];
  const plume = await Plume.start(options.workers === undefined ? {} : { workers: options.workers });
  const node = await startGateway(plume, { port: 0 });
  const echoLoad = loadGenerator();
  const hostileLoad = loadGenerator();
  const results: CaseResult[] = [];
  try {
    await plume.deploy('echo', file('./guests/echo.wasm'));
    await plume.deploy('hostile', file('./guests/hostile.wasm'), { limits: HOSTILE_LIMITS });
    const echo: LoadJob = { url: `${node.url}/function/echo`, bodyBytes: ECHO_BYTES, clients: ECHO_CLIENTS, ...timing };
    options.progress('warm-up');
    await run(echoLoad, { ...echo, durationMs: 0 });
    // Alone before and after the hostile cases, pooled: the baseline sees the machine as the cases did.
    options.progress('echo alone');
    const before = await run(echoLoad, echo);
    const cases: { name: string; clients: number; echo: LoadResult; hostile: LoadResult }[] = [];
    for (const [name, command] of HOSTILE) {
      for (const clients of hostileClients) {
        options.progress(`echo with ${clients} client(s) calling ${name}`);
        const hostileJob: LoadJob = {
          url: `${node.url}/function/hostile`,
          bodyBytes: 0,
          body: command,
          clients,
          warmupMs: timing.warmupMs,
          durationMs: timing.durationMs + timing.warmupMs,
        };
        const [hostile, measured] = await Promise.all([run(hostileLoad, hostileJob), run(echoLoad, echo)]);
        cases.push({ name, clients, echo: measured, hostile });
      }
    }
    options.progress('echo alone, again');
    const after = await run(echoLoad, echo);
    const alone = row(ALONE, 0, {
      samples: before.samples.concat(after.samples),
      elapsedMs: before.elapsedMs + after.elapsedMs,
      errors: before.errors + after.errors,
    });
    results.push(alone);
    for (const c of cases) {
      const r = row(`echo/with-${c.name}`, c.clients, c.echo);
      results.push({
        ...r,
        hostile_calls: c.hostile.samples.length,
        throughput_ratio: round(Number(r.throughput_rps) / Number(alone.throughput_rps)),
        p99_ratio: round(Number(r.p99_ms) / Number(alone.p99_ms)),
      });
    }
  } finally {
    echoLoad.kill();
    hostileLoad.kill();
    await node.close();
    await plume.close();
  }
  return results;
}

function row(name: string, hostileClients: number, r: LoadResult): CaseResult {
  return {
    case: name,
    hostile_clients: hostileClients,
    echo_clients: ECHO_CLIENTS,
    payload_bytes: ECHO_BYTES,
    throughput_rps: round((r.samples.length / r.elapsedMs) * 1000),
    errors: r.errors,
    ...latency(r.samples),
  };
}

/** The targets, beside the table: no echo error, ≥ 50% of alone's throughput with one hostile client, p99 ≤ 10×. */
export function isolationVerdict(results: readonly CaseResult[]): string {
  const lines = results
    .filter((r) => r.case !== ALONE)
    .map((r) => {
      const ok = r.errors === 0 && Number(r.p99_ratio) <= 10 && (r.hostile_clients !== 1 || Number(r.throughput_ratio) >= 0.5);
      return `${String(r.case).padEnd(24)} ${String(r.hostile_clients).padEnd(3)} errors ${r.errors}, throughput ${r.throughput_ratio}× alone, p99 ${r.p99_ratio}× alone: ${ok ? 'met' : 'MISSED'}`;
    });
  return ['targets: 0 echo errors; throughput ≥ 0.5× alone with 1 hostile client; p99 ≤ 10× alone', ...lines].join('\n');
}

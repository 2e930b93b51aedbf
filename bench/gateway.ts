/**
 * `plume bench gateway`: HTTP latency and throughput of the gateway with concurrent clients, next to a plain
 * `node:http` server doing the same work in the same process (`baseline/node-http`): for noop it answers
 * nothing, for echo it answers the body. A third case, `node-http+invoke`, is that server calling the same
 * Plume function with `plume.invoke`: the gateway's distance to it is the cost of the HTTP layer (Fastify,
 * auth, admission, metrics), its distance to the baseline the cost of running a function on a worker.
 *
 * The clients run in a child process (bench/gateway-load.ts), not in this one: a client in the server's
 * process would share its event loop, so every request would pay the client's parsing on the server's
 * thread and the gap between the two servers would shrink. In a child process the client's cost lands on
 * another thread for both servers alike; on a 2-core machine the client, the server's main thread and its
 * worker threads then share the cores, as a node on a small VM shares them with its neighbours.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../src/gateway/index.ts';
import { Plume } from '../src/runtime.ts';
import type { Progress } from '../src/cli/progress.ts';
import type { LoadJob, LoadResult } from './gateway-load.ts';
import { latency, round, type CaseResult } from './report.ts';

const file = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

interface Work {
  readonly case: string;
  readonly function: string;
  readonly module: string;
  readonly bodyBytes: number;
}

const WORK: readonly Work[] = [
  { case: 'noop', function: 'noop', module: file('../examples/noop/noop.wasm'), bodyBytes: 0 },
  { case: 'echo-1mb', function: 'echo', module: file('./guests/echo.wasm'), bodyBytes: 1024 * 1024 },
];

export const BASELINE = 'baseline/node-http';
export const INVOKE = 'node-http+invoke';
/** Measured rounds per cell after one warm-up pass (one with --quick). */
const ROUNDS = 2;

export async function gateway(options: {
  quick: boolean;
  progress: Progress;
  clients?: readonly number[];
  /** Worker threads of the node; default the runtime's (one per core). */
  workers?: number;
}): Promise<CaseResult[]> {
  const clientCounts = options.clients ?? (options.quick ? [8] : [1, 16]);
  const timing = options.quick ? { warmupMs: 300, durationMs: 1000 } : { warmupMs: 500, durationMs: 2500 };
  const plume = await Plume.start(options.workers === undefined ? {} : { workers: options.workers });
  const node = await startGateway(plume, { port: 0 });
  const baseline = await startBaseline(plume);
  const loader = loadGenerator();
  const results: CaseResult[] = [];
  try {
    for (const w of WORK) await plume.deploy(w.function, w.module);
    const servers = (w: Work): [string, string][] => [
      [w.case, `${node.url}/function/${w.function}`],
      [INVOKE, `${baseline.url}/invoke/${w.function}`],
      [BASELINE, `${baseline.url}/${w.case}`],
    ];
    const cells = clientCounts.flatMap((clients) => WORK.flatMap((w) => servers(w).map(([name, url]) => ({ clients, w, name, url }))));
    const rounds = options.quick ? 1 : ROUNDS;
    options.progress.expect(cells.length * (rounds + 1));
    // A warm-up pass over every cell first: the servers' and the load generator's code is compiled and their
    // heaps sized before anything is measured, so the first cell measured is not the one that pays for it.
    for (const { clients, w, name, url } of cells) {
      options.progress.stage(`warm-up: ${name} with ${clients} clients`);
      await run(loader, { url, bodyBytes: w.bodyBytes, clients, warmupMs: timing.warmupMs, durationMs: 0 });
    }
    // Then the rounds; within a round the three servers of a case run back to back (all see the same
    // neighbours on a shared machine), in an order that rotates from round to round so that none is always
    // first. A cell's figures pool the samples of all rounds.
    const pooled = new Map<string, { samples: number[]; elapsedMs: number }>();
    for (let round = 0; round < rounds; round++) {
      for (const clients of clientCounts) {
        for (const w of WORK) {
          const order = servers(w);
          for (let i = 0; i < round; i++) order.push(order.shift()!);
          for (const [name, url] of order) {
            options.progress.stage(`${name} ${w.case === name ? '' : `(${w.case}) `}with ${clients} clients, round ${round + 1}/${rounds}`);
            const r = await run(loader, { url, bodyBytes: w.bodyBytes, clients, ...timing });
            if (r.errors) throw new Error(`${name} (${w.case}): ${r.errors} wrong answers, first: ${r.firstError}`);
            const key = `${name}|${w.case}|${clients}`;
            const cell = pooled.get(key) ?? { samples: [], elapsedMs: 0 };
            pooled.set(key, { samples: cell.samples.concat(r.samples), elapsedMs: cell.elapsedMs + r.elapsedMs });
          }
        }
      }
    }
    for (const { clients, w, name } of cells) {
      const { samples, elapsedMs } = pooled.get(`${name}|${w.case}|${clients}`)!;
      results.push({
        case: name,
        payload_bytes: w.bodyBytes,
        clients,
        workers: plume.workers,
        throughput_rps: round((samples.length / elapsedMs) * 1000),
        ...latency(samples),
      });
    }
  } finally {
    options.progress.stop();
    loader.kill();
    await new Promise<void>((done) => baseline.server.close(() => done()));
    await node.close();
    await plume.close();
  }
  return results;
}

/** Issue 16's targets: throughput ≥ 90% of the baseline's (noop and echo-1mb), and with one client a p50 ≤ 1.3 × the baseline's. */
const THROUGHPUT_TARGET = 0.9;
const ONE_CLIENT_P50_TARGET = 1.3;

/** Ratios of the gateway to the baseline and to node-http+invoke, each with its target when it has one. */
export function gatewayVerdict(results: readonly CaseResult[]): string {
  const find = (name: string, r: CaseResult): CaseResult | undefined =>
    results.find((b) => b.case === name && b.payload_bytes === r.payload_bytes && b.clients === r.clients);
  const pct = (r: CaseResult, b: CaseResult | undefined): string =>
    b ? `${((Number(r.throughput_rps) / Number(b.throughput_rps)) * 100).toFixed(0)}%` : '?';
  const met = (ok: boolean): string => (ok ? 'met' : 'missed');
  const lines = results
    .filter((r) => r.case !== BASELINE && r.case !== INVOKE)
    .map((r) => {
      const base = find(BASELINE, r);
      const target = base
        ? ` (target ≥ ${THROUGHPUT_TARGET * 100}%: ${met(Number(r.throughput_rps) >= THROUGHPUT_TARGET * Number(base.throughput_rps))})`
        : '';
      const p50 =
        base && r.clients === 1
          ? ` (${(Number(r.p50_ms) / Number(base.p50_ms)).toFixed(2)} × the baseline's; target ≤ ${ONE_CLIENT_P50_TARGET}: ${met(Number(r.p50_ms) <= ONE_CLIENT_P50_TARGET * Number(base.p50_ms))})`
          : '';
      return `${String(r.case).padEnd(9)} ${String(r.clients).padStart(3)} clients: ${pct(r, base)} of ${BASELINE}'s throughput${target}, ${pct(r, find(INVOKE, r))} of ${INVOKE}'s; p50 ${r.p50_ms} / ${find(INVOKE, r)?.p50_ms} / ${base?.p50_ms} ms${p50}`;
    });
  return lines.length ? [`gateway vs ${INVOKE} and ${BASELINE}, same run:`, ...lines].join('\n') : '';
}

/** Start a load generator (bench/gateway-load.ts) in a child process. */
export function loadGenerator(): ChildProcess {
  return fork(file('./gateway-load.ts'), {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

/** One job on a load generator, resolved with what it measured. */
export function run(loader: ChildProcess, job: LoadJob): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the load generator exited (${code})`));
    loader.once('exit', onExit);
    loader.once('message', (result) => {
      loader.off('exit', onExit);
      resolve(result as LoadResult);
    });
    loader.send(job);
  });
}

/**
 * The baseline, node:http doing the same work and nothing more (no routing, no auth, no runtime): `/noop`
 * answers nothing, `/echo-1mb` the body. `/invoke/<function>` calls the Plume function with the body instead.
 */
async function startBaseline(plume: Plume): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (req.url === '/noop') res.end();
      else if (req.url === '/echo-1mb') res.end(body);
      else {
        plume.invoke(req.url!.slice('/invoke/'.length), body).then(
          (out) => res.end(out),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

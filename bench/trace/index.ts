/**
 * `plume bench trace`: the Azure Functions samples replayed against three platforms, the same arrivals
 * for each, one after another in one run (docs/benchmarks.md, Trace replay):
 * plume                 one Plume node (plume-node.ts), scale-to-zero with its pools
 * process-per-function  a process per instance, keep-alive 10 trace minutes, scale-out when busy (ppf.ts)
 * workerd               Cloudflare's runtime, a Worker per function, service bindings for chains (workerd.ts)
 * A peer that cannot run here is skipped with a message on stderr, never replaced by anything else.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CaseResult } from '../report.ts';
import { lowerBounds } from './bounds.ts';
import { plumeCase, ppfCase, workerdCase } from './cases.ts';
import { calibrate, GUEST_WASM } from './guest.ts';
import { replay, type CaseSeries, type TraceCase } from './replay.ts';
import { findWorkerd } from './workerd.ts';
import { buildWorkload, callCount, type Work } from './workload.ts';

export const TRACE_CASES = ['plume', 'process-per-function', 'workerd'] as const;
export type TraceCaseName = (typeof TRACE_CASES)[number];

export interface TraceBenchOptions {
  readonly quick?: boolean;
  readonly minutes?: number;
  readonly speedup?: number;
  readonly seed?: number;
  readonly functions?: number;
  readonly work?: Work;
  readonly cases?: readonly TraceCaseName[];
  /** Calls one process-per-function instance takes at once (default 10). */
  readonly ppfConcurrency?: number;
  readonly progress?: (label: string) => void;
}

export interface TraceBenchResult {
  readonly results: CaseResult[];
  /** The run's settings and, per case, the series the report plots. */
  readonly extra: { readonly workload: Record<string, number | string>; readonly series: CaseSeries[] };
}

/** Keep-alive of the baseline: 10 minutes of trace time (Azure Functions' and Knative's default). */
const KEEP_ALIVE_TRACE_MS = 10 * 60_000;

export async function traceBench(opts: TraceBenchOptions = {}): Promise<TraceBenchResult> {
  const progress = opts.progress ?? ((): void => {});
  const quick = opts.quick ?? false;
  const speedup = opts.speedup ?? (quick ? 60 : 20);
  if (!(speedup > 0) || !Number.isFinite(speedup)) throw new RangeError(`--speedup must be a number > 0, got ${speedup}`);
  const work = opts.work ?? 'wait';
  if (work !== 'cpu' && work !== 'wait') throw new RangeError(`--work must be cpu or wait, got ${String(work)}`);
  const w = buildWorkload({
    minutes: opts.minutes ?? (quick ? 2 : 30),
    speedup,
    seed: opts.seed ?? 1,
    work,
    // Quick: calls end within half a second (a smoke run, not for reporting).
    ...(quick ? { maxDurationMs: 500 } : {}),
    ...((opts.functions ?? (quick ? 4 : undefined)) === undefined ? {} : { functions: opts.functions ?? 4 }),
  });
  const calls = w.arrivals.reduce((n, a) => n + callCount(a.root), 0);
  progress(
    `workload: ${w.options.functions} trace functions (${w.workflows} start workflows; ${w.functions.length} deployed), ` +
      `${w.arrivals.length} arrivals (${calls} calls) over ${w.options.minutes} trace minutes at ${speedup}× = ` +
      `${Math.round((w.options.minutes * 60) / speedup)} s, work ${work}`,
  );
  progress('calibrating the guest loop');
  const roundsPerMs = await calibrate();
  const keepAliveMs = KEEP_ALIVE_TRACE_MS / speedup;
  const bounds = lowerBounds(w, keepAliveMs);
  progress(
    `bounds: ${bounds.cold_floor} calls find their function idle past the keep-alive (cold share ≥ ` +
      `${(bounds.cold_floor / calls).toFixed(4)} for any platform that keeps instances that long and makes them on demand); ` +
      `p99 of the work on the critical path ${bounds.work_p99_ms} ms`,
  );
  const ppfConcurrency = opts.ppfConcurrency ?? 10;
  const wanted = opts.cases ?? TRACE_CASES;

  const starts: Record<TraceCaseName, () => Promise<TraceCase> | undefined> = {
    plume: () => plumeCase(GUEST_WASM, w.functions),
    'process-per-function': () => ppfCase(GUEST_WASM, keepAliveMs, ppfConcurrency),
    workerd: () => {
      const found = findWorkerd();
      if ('missing' in found) {
        process.stderr.write(`workerd: skipped, ${found.missing}\n`);
        return undefined;
      }
      return workerdCase(found.binary, GUEST_WASM, w.functions, w.edges);
    },
  };
  const results: CaseResult[] = [];
  const series: CaseSeries[] = [];
  for (const name of wanted) {
    const started = starts[name]();
    if (!started) continue;
    progress(`${name}: starting`);
    const c = await started;
    try {
      progress(`${name}: replaying ${w.arrivals.length} arrivals`);
      const r = await replay(c, w, roundsPerMs, (err) => progress(`${name}: error: ${err instanceof Error ? err.message : String(err)}`));
      results.push(r.row);
      series.push(r.series);
    } finally {
      await c.close();
    }
    await sleep(quick ? 200 : 2000); // the previous case's processes are gone before the next one starts
  }
  return {
    results,
    extra: {
      workload: {
        minutes: w.options.minutes,
        speedup,
        seed: w.options.seed,
        work,
        trace_functions: w.options.functions,
        deployed_functions: w.functions.length,
        workflows: w.workflows,
        arrivals: w.arrivals.length,
        calls,
        memory_scale: w.options.memoryScale,
        max_duration_ms: w.options.maxDurationMs,
        keep_alive_ms: keepAliveMs,
        ppf_concurrency: ppfConcurrency,
        rounds_per_ms: Math.round(roundsPerMs),
        ...bounds,
      },
      series,
    },
  };
}

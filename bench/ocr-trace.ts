/**
 * `plume bench ocr --arrivals trace`: the OCR workflow under the Azure trace's arrival pattern (issue 14):
 * the arrivals of the busiest function of the 2021 sample (bursts, then idle minutes), over `minutes` of
 * trace time compressed `speedup` times (bench/trace/workload.ts), each arrival one OCR request. Both
 * cases run a keep-alive of 10 minutes of trace time: `plume` by its pools (an instance idle 30 s is
 * dropped; at 20× that is the same 10 trace minutes), `process-per-function` by restarting every step
 * whose process sat idle past the window before the request that needs it (a cold start the request waits
 * for). Rows: `plume/trace` and `process-per-function/trace`.
 */
import { setImmediate as setImmediatePromise, setTimeout as sleep } from 'node:timers/promises';
import { round, type CaseResult } from './report.ts';
import { buildWorkload } from './trace/workload.ts';

export interface TraceArrivals {
  /** Wall ms after the start, rising. */
  readonly atMs: readonly number[];
  /** The keep-alive window in wall ms (10 trace minutes / speedup). */
  readonly keepAliveMs: number;
  readonly speedup: number;
  readonly minutes: number;
}

/** The busiest 2021 function's arrivals (the 2019 sample's functions are steady, not bursty). */
export function ocrTraceArrivals(quick: boolean): TraceArrivals {
  const minutes = quick ? 4 : 30;
  const speedup = quick ? 60 : 20;
  const w = buildWorkload({ minutes, speedup, seed: 1, work: 'wait', workflowShare: 0 });
  const counts = new Map<string, number>();
  for (const a of w.arrivals) counts.set(a.root.fn, (counts.get(a.root.fn) ?? 0) + 1);
  const bursty = w.traceFunctions.filter((f) => f.source === 'azure2021');
  const busiest = bursty.sort((a, b) => (counts.get(b.name) ?? 0) - (counts.get(a.name) ?? 0))[0]!;
  return {
    atMs: w.arrivals.filter((a) => a.root.fn === busiest.name).map((a) => a.atMs),
    keepAliveMs: (10 * 60_000) / speedup,
    speedup,
    minutes,
  };
}

/** Sends one request per arrival, open loop; latency from the scheduled arrival. */
export async function replayArrivals(
  name: string,
  arrivals: TraceArrivals,
  request: () => Promise<unknown>,
  extra: () => Record<string, number>,
): Promise<CaseResult> {
  const samples: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (const at of arrivals.atMs) {
    const due = start + at;
    const wait = due - performance.now();
    await (wait > 0 ? sleep(wait) : setImmediatePromise());
    pending.push(
      request().then(
        () => void samples.push(performance.now() - due),
        () => void errors++,
      ),
    );
  }
  await Promise.all(pending);
  const sorted = samples.sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  const seconds = (arrivals.atMs.at(-1) ?? 0) / 1000;
  return {
    case: `${name}/trace`,
    rate_rps: seconds > 0 ? round(arrivals.atMs.length / seconds) : 0,
    n: sorted.length,
    errors,
    p50_ms: at(0.5),
    p90_ms: at(0.9),
    p99_ms: at(0.99),
    mean_ms: round(sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length)),
    trace_minutes: arrivals.minutes,
    speedup: arrivals.speedup,
    ...extra(),
  };
}

/**
 * The process-per-function keep-alive over a chain's steps: before a request, every step idle past the
 * window is restarted (scale-to-zero, then a cold start), all at once; the request waits for them.
 */
export class KeepAlive {
  readonly #lastUsed = new Map<string, number>();
  readonly #windowMs: number;
  coldStarts = 0;

  constructor(functions: readonly string[], windowMs: number) {
    this.#windowMs = windowMs;
    const now = performance.now();
    for (const fn of functions) this.#lastUsed.set(fn, now);
  }

  async before(restart: (fn: string) => Promise<void>): Promise<void> {
    const now = performance.now();
    const expired = [...this.#lastUsed].filter(([, t]) => now - t > this.#windowMs).map(([fn]) => fn);
    for (const fn of this.#lastUsed.keys()) this.#lastUsed.set(fn, now);
    this.coldStarts += expired.length;
    await Promise.all(expired.map(restart));
  }
}

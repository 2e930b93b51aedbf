/**
 * Open-loop load: requests arrive as a Poisson process at a fixed rate, whether or not earlier ones have
 * finished (a closed loop would wait for each answer and hide the queueing a real arrival stream causes).
 * Latency runs from each request's *scheduled* arrival, so a sender that falls behind (timer lag, a busy
 * event loop) counts against the system rather than vanishing (coordinated omission). The arrival times come
 * from a generator seeded by the rate: every case measured at one rate sees the same arrival sequence.
 */
import { setImmediate as setImmediatePromise, setTimeout as sleep } from 'node:timers/promises';
import { latency, round } from './report.ts';

export interface LoadPoint {
  readonly rate_rps: number;
  /** Requests that completed (latency samples). */
  readonly n: number;
  /** Arrivals refused because `maxInFlight` requests were already waiting (the system's queue was full). */
  readonly dropped: number;
  readonly errors: number;
  /** Completed requests / (last completion − first arrival). */
  readonly throughput_rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly mean_ms: number;
}

export interface LoadOptions {
  /** Arrivals are generated for this long at each rate (at least `minRequests`, at most `maxRequests` of them). */
  readonly durationS: number;
  readonly minRequests?: number;
  readonly maxRequests?: number;
  /**
   * A bound on requests in flight; an arrival beyond it is dropped and counted. Past saturation the backlog
   * would otherwise grow without end and every later point would pay for it; the bound makes a saturated
   * point take `durationS` plus the time to drain at most this many requests.
   */
  readonly maxInFlight?: number;
  /** Seed of the arrival sequence, mixed with the rate: the same seed and rate give the same arrivals. */
  readonly seed?: number;
  /** Called once with the first error a point sees (the point goes on and counts errors). */
  readonly onError?: (err: unknown) => void;
}

/** Runs one open-loop point: Poisson arrivals at `rateRps`, each calling `request`. */
export async function openLoop(request: () => Promise<unknown>, rateRps: number, opts: LoadOptions): Promise<LoadPoint> {
  if (!(rateRps > 0)) throw new RangeError(`rate must be a positive number of requests per second, got ${rateRps}`);
  const count = Math.min(opts.maxRequests ?? Infinity, Math.max(opts.minRequests ?? 1, Math.round(rateRps * opts.durationS)));
  const maxInFlight = opts.maxInFlight ?? Infinity;
  const random = mulberry32((opts.seed ?? 1) ^ Math.round(rateRps * 1000));
  const samples: number[] = [];
  const pending = new Set<Promise<void>>();
  let dropped = 0;
  let errors = 0;
  let lastDone = 0;

  const start = performance.now();
  let due = start;
  for (let i = 0; i < count; i++) {
    // Exponential inter-arrival times (inverse transform): a Poisson process of rate `rateRps`.
    due += (-Math.log(1 - random()) / rateRps) * 1000;
    const wait = due - performance.now();
    // Never early (a timer fires late, which the latency then counts); behind schedule, still yield once:
    // requests already sent must get to run between arrivals.
    await (wait > 0 ? sleep(wait) : setImmediatePromise());
    if (pending.size >= maxInFlight) {
      dropped++;
      continue;
    }
    const arrival = due;
    const done: Promise<void> = request().then(
      () => {
        lastDone = performance.now();
        samples.push(lastDone - arrival);
      },
      (err: unknown) => {
        if (errors++ === 0) opts.onError?.(err);
      },
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }
  await Promise.all(pending);
  const seconds = (Math.max(lastDone, start) - start) / 1000;
  return {
    rate_rps: round(rateRps),
    ...latency(samples),
    dropped,
    errors,
    throughput_rps: seconds > 0 ? round(samples.length / seconds) : 0,
  };
}

/** Rising rates, one point each; `progress` hears about each point before it runs. */
export async function sweep(
  request: () => Promise<unknown>,
  rates: readonly number[],
  opts: LoadOptions & { readonly progress?: (label: string) => void },
): Promise<LoadPoint[]> {
  const points: LoadPoint[] = [];
  for (const rate of rates) {
    opts.progress?.(`${round(rate)} req/s for ${opts.durationS} s`);
    points.push(await openLoop(request, rate, opts));
  }
  return points;
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

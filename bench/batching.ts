/**
 * `plume bench batching`: request batching under open-loop Poisson load (issue 4, docs/scheduler.md).
 * The function (bench/guests/batch.c) costs a fixed part per invocation plus a part per item, as real CPU
 * work: 2 ms + 0.2 ms per item. Every case runs the same arrival sequences (seeded) at the same rates,
 * multiples of what `none` can serve (one worker per core, 2.2 ms a call), rising well past it:
 * none      every call is its own invocation (a list of one)
 * fixed     Ray Serve's defaults: up to 10 items, the first waits at most 10 ms
 * adaptive  dispatch at once while a worker is free, batch while all are busy, size capped by a p90 objective
 * The load is bench/load.ts's open loop: latency runs from each call's scheduled arrival; throughput is
 * completions over the time from the first arrival to the last result.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Plume } from '../src/runtime.ts';
import type { BatchPolicy } from '../src/scheduler/batcher.ts';
import { openLoop, sweep } from './load.ts';
import type { CaseResult } from './report.ts';

const GUEST = fileURLToPath(new URL('./guests/batch.wasm', import.meta.url));
const FIXED_US = 2000;
const ITEM_US = 200;
/** The adaptive case's objective: a few batch times of the guest, well above its unbatched latency. */
const TARGET_P90_MS = 10;
/**
 * Past saturation, a point drains at most this many calls after its arrivals end (later arrivals are
 * dropped and counted): enough for full batches on every worker, few enough to drain in about a second.
 */
const MAX_IN_FLIGHT = 1000;

const CASES: Record<string, BatchPolicy> = {
  none: { mode: 'none' },
  fixed: { mode: 'fixed', maxSize: 10, maxWaitMs: 10 },
  adaptive: { mode: 'adaptive', targetP90Ms: TARGET_P90_MS },
};

export interface BatchingOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

export async function batching(opts: BatchingOptions = {}): Promise<CaseResult[]> {
  const unbatched = (availableParallelism() * 1e6) / (FIXED_US + ITEM_US);
  const loads = opts.quick ? [0.2, 0.6, 2, 5] : [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 4, 6];
  const rates = loads.map((x) => Number((x * unbatched).toPrecision(2)));
  const load = { durationS: opts.quick ? 1 : 2, maxRequests: opts.quick ? 1500 : 4000, maxInFlight: MAX_IN_FLIGHT };
  const input = new TextEncoder().encode('item');
  const env = { BATCH_FIXED_US: String(FIXED_US), BATCH_ITEM_US: String(ITEM_US) };
  const results: CaseResult[] = [];
  for (const [name, policy] of Object.entries(CASES)) {
    const plume = await Plume.start();
    try {
      await plume.deploy('batch', GUEST, { batch: policy, env });
      const request = (): Promise<Uint8Array> => plume.invoke('batch', input);
      opts.progress?.(`${name}: warm-up`);
      await openLoop(request, 0.3 * unbatched, { durationS: 1, maxRequests: 300, seed: 1000 });
      const points = await sweep(request, rates, { ...load, progress: (label) => opts.progress?.(`${name}: ${label}`) });
      for (const point of points) results.push({ case: name, ...point });
    } finally {
      await plume.close();
    }
  }
  return results;
}

/** The targets, read off the results (for the human output). */
export function batchingVerdict(results: readonly CaseResult[]): string {
  const rows = (c: string): CaseResult[] => results.filter((r) => r.case === c);
  const num = (r: CaseResult | undefined, k: string): number => Number(r?.[k] ?? NaN);
  const maxThroughput = (c: string): number => Math.max(...rows(c).map((r) => num(r, 'throughput_rps')));
  const at = (c: string, rate: number): CaseResult | undefined => rows(c).find((r) => r.rate_rps === rate);
  const low = num(rows('none')[0], 'rate_rps');
  // Medium load: the rate nearest half of what `none` serves at most (its highest throughput).
  const half = maxThroughput('none') / 2;
  const medium = rows('none')
    .map((r) => num(r, 'rate_rps'))
    .reduce((x, y) => (Math.abs(y - half) < Math.abs(x - half) ? y : x));
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const [a, f] = [maxThroughput('adaptive'), maxThroughput('fixed')];
  const [lowA, lowN] = [num(at('adaptive', low), 'p90_ms'), num(at('none', low), 'p90_ms')];
  const medium90 = (c: string): number => num(at(c, medium), 'p90_ms');
  const best = Math.min(medium90('none'), medium90('fixed'));
  return [
    `targets (issue 4):`,
    `  max throughput: adaptive ${a} ≥ fixed ${f} req/s: ${mark(a >= f)}`,
    `  low load (${low} req/s) p90: adaptive ${lowA} ms within 10% of none ${lowN} ms: ${mark(lowA <= lowN * 1.1)}`,
    `  medium load (${medium} req/s) p90: adaptive ${medium90('adaptive')} ms < none ${medium90('none')}, fixed ${medium90('fixed')} ms: ${mark(medium90('adaptive') < best)}`,
  ].join('\n');
}

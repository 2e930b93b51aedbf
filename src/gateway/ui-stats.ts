/**
 * The dashboard's per-function numbers, read from the same Prometheus registry that `GET /metrics` serves
 * (src/gateway/metrics.ts): calls, errors, cold share, and p50/p99 estimated from the duration histogram the
 * way PromQL's `histogram_quantile` does. Calls per second come from the invocation counter sampled when
 * the dashboard asks (no timer runs while no one looks).
 */
import type { Registry } from 'prom-client';

export interface FunctionNumbers {
  readonly calls: number;
  readonly errors: number;
  readonly coldStarts: number;
  /** Cold starts over calls that ran; 0 before the first call. */
  readonly coldShare: number;
  /** Over the sampling window; null until two samples span one. */
  readonly callsPerS: number | null;
  /** Seconds, from the histogram's buckets since the node started; null before the first call. */
  readonly p50S: number | null;
  readonly p99S: number | null;
}

interface Sample {
  readonly at: number;
  readonly calls: ReadonlyMap<string, number>;
}

/** Samples closer together than this add nothing to a rate; older than WINDOW_MS they are dropped. */
const SAMPLE_MS = 1000;
const WINDOW_MS = 30_000;

type Values = { value: number; labels: Record<string, string | number> }[];

export class FunctionStatsReader {
  readonly #registry: Registry;
  readonly #samples: Sample[] = [];

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  async read(): Promise<Map<string, FunctionNumbers>> {
    const calls = new Map<string, number>();
    const errors = new Map<string, number>();
    for (const { value, labels } of await this.#values('plume_function_invocations_total')) {
      const fn = String(labels['function']);
      calls.set(fn, (calls.get(fn) ?? 0) + value);
      if (labels['code'] !== 'ok') errors.set(fn, (errors.get(fn) ?? 0) + value);
    }
    const cold = new Map<string, number>();
    for (const { value, labels } of await this.#values('plume_cold_starts_total')) cold.set(String(labels['function']), value);
    const buckets = new Map<string, [number, number][]>();
    for (const { value, labels } of await this.#values('plume_function_duration_seconds')) {
      if (labels['le'] === undefined) continue; // _sum and _count
      const fn = String(labels['function']);
      const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
      let list = buckets.get(fn);
      if (!list) buckets.set(fn, (list = []));
      list.push([le, value]);
    }
    const rates = this.#rates(calls);
    const out = new Map<string, FunctionNumbers>();
    for (const [fn, n] of calls) {
      const coldStarts = cold.get(fn) ?? 0;
      const sorted = (buckets.get(fn) ?? []).sort((a, b) => a[0] - b[0]);
      out.set(fn, {
        calls: n,
        errors: errors.get(fn) ?? 0,
        coldStarts,
        coldShare: n > 0 ? coldStarts / n : 0,
        callsPerS: rates.get(fn) ?? null,
        p50S: quantile(0.5, sorted),
        p99S: quantile(0.99, sorted),
      });
    }
    return out;
  }

  async #values(name: string): Promise<Values> {
    const metric = this.#registry.getSingleMetric(name);
    return metric ? ((await metric.get()).values as Values) : [];
  }

  /** Calls per second per function between the oldest sample in the window and now. */
  #rates(calls: ReadonlyMap<string, number>): Map<string, number> {
    const now = Date.now();
    while (this.#samples.length && now - this.#samples[0]!.at > WINDOW_MS) this.#samples.shift();
    const last = this.#samples.at(-1);
    if (!last || now - last.at >= SAMPLE_MS) this.#samples.push({ at: now, calls: new Map(calls) });
    const first = this.#samples[0]!;
    const rates = new Map<string, number>();
    const span = (now - first.at) / 1000;
    if (span < SAMPLE_MS / 1000) return rates;
    for (const [fn, n] of calls) rates.set(fn, (n - (first.calls.get(fn) ?? 0)) / span);
    return rates;
  }
}

/**
 * The q-quantile of cumulative buckets [upper bound, count], interpolated linearly inside the bucket it
 * falls in, as Prometheus does; a quantile in the +Inf bucket answers the largest finite bound.
 */
export function quantile(q: number, buckets: readonly (readonly [number, number])[]): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / (count - below || 1));
    }
    lower = le;
    below = count;
  }
  return lower;
}

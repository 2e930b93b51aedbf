/**
 * One case's replay of a workload: the arrivals sent open loop at their times (latency from the scheduled
 * arrival, so a sender that falls behind counts against the system), the case's processes metered from
 * /proc, its cold starts and calls polled each second and filed under the trace minute they happened in.
 */
import { setImmediate as setImmediatePromise, setTimeout as sleep } from 'node:timers/promises';
import { round, type CaseResult } from '../report.ts';
import { criticalPathMs } from './bounds.ts';
import { encodeCall } from './call-format.ts';
import { Meter } from './meter.ts';
import type { Workload } from './workload.ts';

/** A platform under replay: sends one arrival's root call, counts what its functions ran. */
export interface TraceCase {
  readonly name: string;
  pids(): Iterable<number>;
  send(fn: string, input: Uint8Array): Promise<void>;
  /** Cold starts (restores included) and function calls (chained ones included) since it started. */
  counters(): Promise<{ cold: number; calls: number }>;
  /** Called with the meter before the replay, so that a case reads its processes before it stops them. */
  measureWith?(meter: Meter): void;
  /** More fields for the case's row (process-per-function: instances it started). */
  extra?(): Record<string, number>;
  close(): Promise<void>;
}

export interface CaseSeries {
  readonly case: string;
  /** (latency ms, cumulative share) from the sorted samples, at most ~200 points. */
  readonly latency_cdf: [number, number][];
  /** (wall s, MB of all the case's processes). */
  readonly memory: readonly (readonly [number, number])[];
  /** Per trace minute of wall time since the start: arrivals offered, requests completed, cold starts. */
  readonly minutes: { minute: number; offered: number; completed: number; cold: number }[];
}

/** Arrivals beyond this many in flight are dropped (counted): a saturated case must still finish. */
const MAX_IN_FLIGHT = 4096;

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
}

export async function replay(
  c: TraceCase,
  w: Workload,
  roundsPerMs: number,
  onError: (err: unknown) => void,
): Promise<{ row: CaseResult; series: CaseSeries }> {
  const inputs = w.arrivals.map((a) => encodeCall(a.root, w.options.work, roundsPerMs));
  const minutes = Math.ceil(w.options.minutes);
  const perMinute = Array.from({ length: minutes }, (_, minute) => ({ minute, offered: 0, completed: 0, cold: 0 }));
  /** A trace minute's counts; a case that falls behind completes past the replay's last minute. */
  const slot = (minute: number): (typeof perMinute)[number] => {
    while (perMinute.length <= minute) perMinute.push({ minute: perMinute.length, offered: 0, completed: 0, cold: 0 });
    return perMinute[minute]!;
  };
  const meter = new Meter(() => c.pids());
  c.measureWith?.(meter);
  const before = await c.counters();
  const samples: number[] = [];
  // What the platform added: latency minus the work on the call tree's critical path (its own duration,
  // then its slowest successor's), which no platform can take away.
  const overhead: number[] = [];
  let errors = 0;
  let dropped = 0;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const minuteNow = (): number => Math.floor(((performance.now() - start) * w.options.speedup) / 60_000);

  let lastCold = before.cold;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      await sleep(1000);
      const { cold } = await c.counters().catch(() => ({ cold: lastCold }));
      slot(minuteNow()).cold += cold - lastCold;
      lastCold = cold;
    }
  })();

  meter.start();
  for (let i = 0; i < w.arrivals.length; i++) {
    const a = w.arrivals[i]!;
    const due = start + a.atMs;
    const wait = due - performance.now();
    await (wait > 0 ? sleep(wait) : setImmediatePromise());
    slot(a.minute).offered++;
    if (pending.size >= MAX_IN_FLIGHT) {
      dropped++;
      continue;
    }
    const done = c.send(a.root.fn, inputs[i]!).then(
      () => {
        samples.push(performance.now() - due);
        overhead.push(performance.now() - due - criticalPathMs(a.root));
        slot(minuteNow()).completed++;
      },
      (err: unknown) => {
        if (errors++ === 0) onError(err);
      },
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }
  await Promise.all(pending);
  const wallS = (performance.now() - start) / 1000;
  polling = false;
  await poll;
  const after = await c.counters();
  slot(minuteNow()).cold += after.cold - lastCold;
  const metered = meter.stop();

  const sorted = samples.sort((x, y) => x - y);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  const calls = after.calls - before.calls;
  const cold = after.cold - before.cold;
  const row: CaseResult = {
    case: c.name,
    arrivals: w.arrivals.length,
    completed: samples.length,
    errors,
    dropped,
    calls,
    cold_starts: cold,
    cold_share: calls > 0 ? round(cold / calls) : 0,
    p50_ms: at(0.5),
    p90_ms: at(0.9),
    p99_ms: at(0.99),
    p999_ms: at(0.999),
    mean_ms: round(sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length)),
    overhead_p50_ms: percentile(overhead, 0.5),
    overhead_p99_ms: percentile(overhead, 0.99),
    peak_rss_mb: metered.peak_rss_mb,
    memory_mb_s: metered.memory_mb_s,
    cpu_s: metered.cpu_s,
    wall_s: round(wallS),
    ...c.extra?.(),
  };
  const step = Math.max(1, Math.floor(sorted.length / 200));
  const latency_cdf = sorted.flatMap((ms, i): [number, number][] =>
    i % step === 0 || i === sorted.length - 1 ? [[round(ms), round((i + 1) / sorted.length)]] : [],
  );
  const memStep = Math.max(1, Math.floor(metered.series.length / 300));
  return {
    row,
    series: { case: c.name, latency_cdf, memory: metered.series.filter((_, i) => i % memStep === 0), minutes: perMinute },
  };
}

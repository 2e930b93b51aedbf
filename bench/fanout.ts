/**
 * `plume bench fanout`: CWASI's fan-out and fan-in with a 2 MB payload and N = 100…500 functions, run by
 * bench/guests/transfer.c inside one invocation (the embedded mode).
 * fanout  A's 2 MB output goes by reference to N functions, each reading all of it into its own memory
 * fanin   N functions each produce 2 MB; one reads all of them into its own memory
 * Per request = the whole fan's time / N (CWASI's per-request latency is ≈ 1 / its throughput); p50 and
 * p99 are over repetitions of the whole fan.
 */
import { fileURLToPath } from 'node:url';
import { Plume } from '../src/runtime.ts';
import { latency, round, type CaseResult } from './report.ts';

const GUEST = fileURLToPath(new URL('./guests/transfer.wasm', import.meta.url));
/** Callees run unmeasured before each cell (whole fans of its N; at least one fan). */
const WARM_CALLEES = 1000;

export interface FanoutOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

export async function fanout(opts: FanoutOptions = {}): Promise<CaseResult[]> {
  const widths = opts.quick ? [100] : [100, 200, 300, 400, 500];
  const reps = opts.quick ? 2 : 10;
  const results: CaseResult[] = [];
  const plume = await Plume.start({ workers: 1 });
  try {
    await plume.deploy('fan', GUEST, { limits: { timeoutMs: 120_000, maxOutputBytes: 4 * 1024 * 1024 } });
    for (const kind of ['fanout', 'fanin'] as const) {
      for (const n of widths) {
        opts.progress?.(`${kind} N=${n} × ${reps}`);
        // Warm-up: at least WARM_CALLEES callees per cell, so that the first cell does not pay for the host
        // path's JIT warm-up (a fresh worker's first ~600 callees cost ~2× a warm one's; docs/dataplane.md).
        for (let warmed = 0; warmed < WARM_CALLEES; warmed += n) await plume.invoke('fan', `${kind}:${n}`);
        const perRequest: number[] = [];
        let totalMs = 0;
        for (let i = 0; i < reps; i++) {
          const ms = Number(new TextDecoder().decode(await plume.invoke('fan', `${kind}:${n}`))) / 1e6;
          totalMs += ms;
          perRequest.push(ms / n);
        }
        const { p50_ms, p99_ms, mean_ms } = latency(perRequest);
        results.push({ case: kind, n, reps, p50_ms, p99_ms, mean_ms, throughput_rps: round((n * reps) / (totalMs / 1000)) });
      }
    }
  } finally {
    await plume.close();
  }
  return results;
}

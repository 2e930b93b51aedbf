/**
 * What no platform can do better on a workload, read off its calls alone, so that each case's figures can
 * be read against them (docs/benchmarks.md, Trace replay):
 * - `cold_floor`: calls that find no call of their function in flight nor ended within the keep-alive
 *   window — a cold start on any platform that keeps an instance for that window after its last call and
 *   makes instances on demand (the first call of each function among them);
 * - `work_p99_ms`: the p99 of the arrivals' own work on their call tree's critical path (a call's duration,
 *   then its slowest successor's): an end-to-end p99 cannot go below it.
 * A call holds its function busy from its start to the end of its successors (its caller awaits them).
 */
import { round } from '../report.ts';
import type { CallNode, Workload } from './workload.ts';

export function criticalPathMs(node: CallNode): number {
  return node.durationMs + Math.max(0, ...node.next.map(criticalPathMs));
}

export function lowerBounds(w: Workload, keepAliveMs: number): { cold_floor: number; work_p99_ms: number } {
  const calls: { fn: string; start: number; end: number }[] = [];
  const walk = (n: CallNode, start: number): number => {
    const own = start + n.durationMs;
    const end = Math.max(own, ...n.next.map((c) => walk(c, own)));
    calls.push({ fn: n.fn, start, end });
    return end;
  };
  for (const a of w.arrivals) walk(a.root, a.atMs);
  calls.sort((a, b) => a.start - b.start);
  /** Per function: the latest end of its calls so far (in flight or not). */
  const busyUntil = new Map<string, number>();
  let cold = 0;
  for (const c of calls) {
    const until = busyUntil.get(c.fn);
    if (until === undefined || c.start - until > keepAliveMs) cold++;
    busyUntil.set(c.fn, Math.max(until ?? -Infinity, c.end));
  }
  const work = w.arrivals.map((a) => criticalPathMs(a.root)).sort((x, y) => x - y);
  const p99 = work[Math.min(work.length - 1, Math.ceil(0.99 * work.length) - 1)] ?? NaN;
  return { cold_floor: cold, work_p99_ms: round(p99) };
}

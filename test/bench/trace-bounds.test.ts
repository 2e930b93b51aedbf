/** The trace replay's lower bounds (bench/trace/bounds.ts), on hand-made workloads. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lowerBounds } from '../../bench/trace/bounds.ts';
import type { Arrival, CallNode, Workload } from '../../bench/trace/workload.ts';

const call = (fn: string, durationMs: number, next: CallNode[] = []): CallNode => ({ fn, durationMs, kb: 0, next });
const workload = (arrivals: [number, CallNode][]): Workload =>
  ({ arrivals: arrivals.map(([atMs, root]): Arrival => ({ atMs, minute: 0, root })) }) as unknown as Workload;

describe('lowerBounds', () => {
  it('should count first calls and calls after their function sat idle past the keep-alive as cold on any platform', () => {
    const w = workload([
      [0, call('f', 10)], // first f: cold
      [5, call('f', 10)], // f in flight: an instance exists (warm)
      [60, call('f', 10)], // 45 ms after f's last call ended: within 50 ms
      [200, call('f', 10)], // 130 ms idle: past the keep-alive, cold
      [210, call('g', 10, [call('h', 5)])], // g and its successor h: both first calls
      [300, call('h', 5)], // h's last call ended at 225: within 50 ms? no, 75 ms: cold
    ]);
    assert.equal(lowerBounds(w, 50).cold_floor, 5);
    assert.equal(lowerBounds(w, 1000).cold_floor, 3);
  });

  it('should hold the caller busy while its successors run', () => {
    // f ends its own work at 10 and awaits g until 110: a call of f at 150 is 40 ms after f was busy.
    const w = workload([
      [0, call('f', 10, [call('g', 100)])],
      [150, call('f', 1)],
    ]);
    assert.equal(lowerBounds(w, 50).cold_floor, 2);
  });

  it('should give the p99 of the work on each call tree critical path', () => {
    const w = workload(Array.from({ length: 100 }, (_, i): [number, CallNode] => [i, call('f', i + 1, [call('g', 1000)])]));
    assert.equal(lowerBounds(w, 50).work_p99_ms, 1099);
  });
});

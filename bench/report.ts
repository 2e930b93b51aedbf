/** The benchmark JSON contract (ARCHITECTURE.md) and the statistics every scenario reports. */
import { availableParallelism } from 'node:os';

export interface CaseResult {
  readonly case: string;
  readonly [field: string]: number | string;
}

export interface Report {
  readonly scenario: string;
  readonly node: string;
  readonly cpus: number;
  readonly results: CaseResult[];
}

export function report(scenario: string, results: CaseResult[]): Report {
  return { scenario, node: process.version, cpus: availableParallelism(), results };
}

/** Latency percentiles in ms from samples in ms (nearest-rank). */
export function latency(samples: number[]): { n: number; p50_ms: number; p90_ms: number; p99_ms: number; mean_ms: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return { n: sorted.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), mean_ms: round(mean) };
}

export function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** A text table for humans (stderr or plain output). */
export function table(r: Report): string {
  const keys = [...new Set(r.results.flatMap((row) => Object.keys(row)))];
  const rows = [keys, ...r.results.map((row) => keys.map((k) => String(row[k] ?? '')))];
  const widths = keys.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [`${r.scenario} — node ${r.node}, ${r.cpus} cpus`, ...rows.map((row) => line(row as string[]))].join('\n');
}

/** CWASI's published results (bench/data/cwasi, IEEE/ACM SEC 2023), to print beside Plume's. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DATA = fileURLToPath(new URL('./data/cwasi/', import.meta.url));
/** Payload sizes of the sequential experiment, in the order of the file's column groups. */
export const CWASI_SIZES_MB = [2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 100];

export interface PublishedRow {
  readonly size_mb: number;
  readonly openfaas_ms: number;
  readonly cwasi_ms: number;
  readonly wasmedge_ms: number;
}

/** Mean latency per size (ms) of OpenFaaS, CWASI (local buffer) and WasmEdge; empty if the data is absent. */
export function publishedSequential(): PublishedRow[] {
  const file = `${DATA}dataset_May20_x86_nuc_exec.csv`;
  if (!existsSync(file)) return [];
  const rows = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(',').map(Number));
  const mean = (col: number): number => (rows.reduce((s, r) => s + (r[col] ?? 0), 0) / rows.length) * 1000;
  return CWASI_SIZES_MB.map((size_mb, i) => ({
    size_mb,
    openfaas_ms: round1(mean(i * 3)),
    cwasi_ms: round1(mean(i * 3 + 1)),
    wasmedge_ms: round1(mean(i * 3 + 2)),
  }));
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Mean per-request latency (ms) of the 2 MB fan-out and fan-in experiments (N = 100…500). */
export function publishedFan(kind: 'fanout' | 'fanin'): { openfaas_ms: number; cwasi_ms: number; wasmedge_ms: number } | undefined {
  const file = `${DATA}dataset_fanout2_${kind}_latency.csv`;
  if (!existsSync(file)) return undefined;
  const rows = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(',').map(Number));
  const mean = (col: number): number => round1((rows.reduce((s, r) => s + (r[col] ?? 0), 0) / rows.length) * 1000);
  return { openfaas_ms: mean(0), cwasi_ms: mean(1), wasmedge_ms: mean(2) };
}

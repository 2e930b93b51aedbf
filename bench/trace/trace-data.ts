/**
 * The Azure Functions samples (bench/data/azure, README there) as trace functions: for each, invocations
 * per trace minute, a duration distribution and a memory distribution; and the workflow shapes of
 * dag_structure.csv. Two sources:
 * - the 2019 trace (Shahrad et al., ATC'20): invocations.csv's per-minute counts, with the function's
 *   duration and memory percentiles from durations.csv and memory.csv;
 * - the 2021 trace (Zhang et al., SOSP'21): Azure2021_200.csv's invocations (start = end − duration),
 *   counted per minute; durations from the function's own records; memory, which that sample lacks, from
 *   one of memory.csv's functions chosen by the seed. Its window (21 minutes) repeats to fill a replay.
 */
import { join } from 'node:path';
import { readCsv, TraceFileError } from './csv.ts';

/** A distribution given by percentiles: (quantile in [0, 1], value), quantiles rising; linear in between. */
export type Percentiles = readonly (readonly [number, number])[];

export interface TraceFunction {
  /** Short name for the platforms (`t00`…), in the order the files list them. */
  readonly name: string;
  readonly hash: string;
  readonly source: 'azure2019' | 'azure2021';
  /** Invocations in each minute of the function's window (which repeats). */
  readonly perMinute: readonly number[];
  /** Duration in ms: percentiles (2019) or the recorded durations (2021, sampled uniformly). */
  readonly durationMs: Percentiles | readonly number[];
  readonly memoryMb: Percentiles;
}

export interface DagShape {
  /** P(width ≤ w) and P(depth ≤ d), as (cumulative share, value) rows. */
  readonly width: readonly (readonly [number, number])[];
  readonly depth: readonly (readonly [number, number])[];
}

export interface Trace {
  readonly functions: readonly TraceFunction[];
  readonly dag: DagShape;
}

export const TRACE_DIR = new URL('../data/azure/', import.meta.url).pathname;

const ID = ['HashOwner', 'HashApp', 'HashFunction'];
const DURATION_PCT = [0, 1, 25, 50, 75, 99, 100];
const MEMORY_PCT = [1, 5, 25, 50, 75, 95, 99, 100];

/** Reads the five files of `dir`; `pick` (uniform in [0, 1)) chooses the 2021 functions' memory rows. */
export function loadTrace(dir: string = TRACE_DIR, pick: () => number = () => 0): Trace {
  const durations = new Map<string, Percentiles>();
  for (const row of readCsv(join(dir, 'durations.csv'), [...ID, ...DURATION_PCT.map((p) => `percentile_Average_${p}`)]).rows) {
    durations.set(row.text('HashFunction'), rising(DURATION_PCT.map((p) => [p / 100, row.number(`percentile_Average_${p}`)])));
  }
  const memory = new Map<string, Percentiles>();
  for (const row of readCsv(join(dir, 'memory.csv'), [...ID, ...MEMORY_PCT.map((p) => `AverageAllocatedMb_pct${p}`)]).rows) {
    const pct = MEMORY_PCT.map((p): [number, number] => [p / 100, row.number(`AverageAllocatedMb_pct${p}`)]);
    memory.set(row.text('HashFunction'), rising([[0, pct[0]![1]], ...pct]));
  }
  if (memory.size === 0) throw new TraceFileError(join(dir, 'memory.csv'), 2, 'no rows: the 2021 functions take their memory from it');
  const memoryRows = [...memory.values()];

  const functions: TraceFunction[] = [];
  const name = (): string => `t${String(functions.length).padStart(2, '0')}`;
  const invocationsFile = join(dir, 'invocations.csv');
  const inv = readCsv(invocationsFile, [...ID, 'Trigger', '1']);
  const minutes = inv.header.filter((h) => /^\d+$/.test(h));
  for (const row of inv.rows) {
    const hash = row.text('HashFunction');
    const durationMs = durations.get(hash);
    const memoryMb = memory.get(hash);
    if (!durationMs) throw new TraceFileError(invocationsFile, row.line, `function ${hash.slice(0, 12)}… has no row in durations.csv`);
    if (!memoryMb) throw new TraceFileError(invocationsFile, row.line, `function ${hash.slice(0, 12)}… has no row in memory.csv`);
    functions.push({ name: name(), hash, source: 'azure2019', perMinute: minutes.map((m) => row.number(m)), durationMs, memoryMb });
  }

  const byFunction = new Map<string, { starts: number[]; durations: number[] }>();
  for (const row of readCsv(join(dir, 'Azure2021_200.csv'), ['app', 'func', 'end_timestamp', 'duration']).rows) {
    const key = `${row.text('app')}/${row.text('func')}`;
    const duration = row.number('duration');
    const entry = byFunction.get(key) ?? { starts: [], durations: [] };
    entry.starts.push(Math.max(0, row.number('end_timestamp') - duration));
    entry.durations.push(duration * 1000);
    byFunction.set(key, entry);
  }
  const window = Math.ceil(Math.max(1, ...[...byFunction.values()].flatMap((e) => e.starts.map((s) => (s + 1e-9) / 60))));
  for (const [key, { starts, durations: ms }] of byFunction) {
    const perMinute = new Array<number>(window).fill(0);
    for (const s of starts) perMinute[Math.min(window - 1, Math.floor(s / 60))]!++;
    const memoryMb = memoryRows[Math.floor(pick() * memoryRows.length)]!;
    functions.push({ name: name(), hash: key.split('/')[1]!, source: 'azure2021', perMinute, durationMs: ms, memoryMb });
  }
  return { functions, dag: loadDag(join(dir, 'dag_structure.csv')) };
}

function loadDag(file: string): DagShape {
  const { rows } = readCsv(file, ['Width', 'WidthPercentile', 'Depth', 'DepthPercentile']);
  if (rows.length === 0) throw new TraceFileError(file, 2, 'no rows');
  const percent = (row: (typeof rows)[number], column: string): number => {
    const s = row.text(column);
    const v = Number(s.replace(/%$/, ''));
    if (!Number.isFinite(v) || v < 0 || v > 100) throw new TraceFileError(file, row.line, `column '${column}' is not a percentage: '${s}'`);
    return v / 100;
  };
  const shape = (value: string, share: string): [number, number][] =>
    rows.map((r) => {
      const v = r.number(value);
      if (!Number.isInteger(v) || v < 1) throw new TraceFileError(file, r.line, `column '${value}' must be a whole number ≥ 1, got ${v}`);
      return [percent(r, share), v];
    });
  return { width: shape('Width', 'WidthPercentile'), depth: shape('Depth', 'DepthPercentile') };
}

/** Percentile rows must not fall: a table whose values fall is not a distribution. */
function rising(points: [number, number][]): Percentiles {
  return points.map(([q, v], i) => [q, Math.max(v, i > 0 ? points[i - 1]![1] : v)]);
}

/** A value of a percentile distribution at uniform `u`, or a recorded value picked by `u`. */
export function sample(dist: Percentiles | readonly number[], u: number): number {
  if (dist.length === 0) return 0;
  if (typeof dist[0] === 'number') {
    const values = dist as readonly number[];
    return values[Math.min(values.length - 1, Math.floor(u * values.length))]!;
  }
  const pts = dist as Percentiles;
  for (let i = 1; i < pts.length; i++) {
    const [q0, v0] = pts[i - 1]!;
    const [q1, v1] = pts[i]!;
    if (u <= q1) return q1 > q0 ? v0 + ((u - q0) / (q1 - q0)) * (v1 - v0) : v1;
  }
  return pts[pts.length - 1]![1];
}

/** The value of a cumulative (share, value) table at uniform `u`: the first row whose share reaches u. */
export function sampleCumulative(table: readonly (readonly [number, number])[], u: number): number {
  return (table.find(([share]) => u <= share) ?? table[table.length - 1]!)[1];
}

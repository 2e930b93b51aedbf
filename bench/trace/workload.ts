/**
 * One replay's calls, generated once and given to every case: which trace functions take part, the
 * workflows some of them start, and every arrival with its sampled work. Open loop: arrivals come from
 * the trace's per-minute counts, placed within their minute as a Poisson process (given the count, its
 * arrival times are uniform in the minute), all from one seeded generator.
 *
 * Time compression: `speedup` divides every trace time — arrivals, durations and the keep-alive window —
 * so the replay keeps the trace's utilisation (busy time per wall second) while `minutes` of trace take
 * minutes / speedup of wall time. Platform costs (process start-up, instance restore) are not compressed:
 * that is what the cases are compared on.
 */
import { loadTrace, sample, sampleCumulative, TRACE_DIR, type Trace, type TraceFunction } from './trace-data.ts';
import { mulberry32 } from '../load.ts';

export type Work = 'cpu' | 'wait';

export interface WorkloadOptions {
  /** Minutes of trace time to replay (from minute `startMinute`). */
  readonly minutes: number;
  readonly speedup: number;
  readonly seed: number;
  /** Keep the K busiest functions of the window (default all). */
  readonly functions?: number;
  /** The share of the chosen functions that start a workflow (default 0.25). */
  readonly workflowShare?: number;
  readonly work: Work;
  /** Memory touched per call = the trace's MB × this (default 1/16: 112–235 MB become 7–15 MB). */
  readonly memoryScale?: number;
  /** A call's compressed duration is capped here, in wall ms (default 10 000): the replay must end. */
  readonly maxDurationMs?: number;
  readonly startMinute?: number;
  readonly dir?: string;
}

/** One function call with its sampled work, and the calls it makes once its own work is done. */
export interface CallNode {
  readonly fn: string;
  /** Wall ms (compressed and capped). */
  readonly durationMs: number;
  readonly kb: number;
  readonly next: readonly CallNode[];
}

export interface Arrival {
  /** Wall ms after the replay starts. */
  readonly atMs: number;
  /** Trace minute (0-based, within the replay). */
  readonly minute: number;
  readonly root: CallNode;
}

export interface Workload {
  /** Every function a platform deploys: trace functions and workflow successors. */
  readonly functions: readonly string[];
  /** Successors each function may call (the DAG edges): workerd binds them as services. */
  readonly edges: Readonly<Record<string, readonly string[]>>;
  readonly arrivals: readonly Arrival[];
  readonly workflows: number;
  readonly traceFunctions: readonly TraceFunction[];
  readonly options: Required<Omit<WorkloadOptions, 'functions'>> & { readonly functions: number };
}

interface DagNode {
  readonly fn: string;
  readonly next: DagNode[];
}

export function buildWorkload(opts: WorkloadOptions): Workload {
  if (!(opts.speedup > 0) || !Number.isFinite(opts.speedup)) throw new RangeError(`--speedup must be a number > 0, got ${opts.speedup}`);
  if (!(opts.minutes > 0)) throw new RangeError(`--minutes must be > 0, got ${opts.minutes}`);
  if (!Number.isInteger(opts.seed)) throw new RangeError(`--seed must be an integer, got ${opts.seed}`);
  if (opts.functions !== undefined && !(Number.isInteger(opts.functions) && opts.functions > 0)) {
    throw new RangeError(`--functions must be a whole number > 0, got ${opts.functions}`);
  }
  const random = mulberry32(opts.seed);
  const trace: Trace = loadTrace(opts.dir ?? TRACE_DIR, random);
  const startMinute = opts.startMinute ?? 0;
  const minutes = Math.ceil(opts.minutes);
  const countAt = (f: TraceFunction, m: number): number => f.perMinute[(startMinute + m) % f.perMinute.length] ?? 0;
  const total = (f: TraceFunction): number => Array.from({ length: minutes }, (_, m) => countAt(f, m)).reduce((a, b) => a + b, 0);
  const busiest = [...trace.functions].filter((f) => total(f) > 0).sort((a, b) => total(b) - total(a) || a.name.localeCompare(b.name));
  const chosen = busiest.slice(0, opts.functions ?? busiest.length);

  // Workflows: a seeded share of the chosen functions each start a DAG of the trace's width and depth.
  const share = opts.workflowShare ?? 0.25;
  if (!(share >= 0 && share <= 1)) throw new RangeError(`workflow share must be in [0, 1], got ${share}`);
  const dags = new Map<string, DagNode>();
  const edges: Record<string, string[]> = {};
  const functions = chosen.map((f) => f.name);
  for (const f of chosen) {
    if (random() >= share) continue;
    const width = sampleCumulative(trace.dag.width, random());
    const depth = sampleCumulative(trace.dag.depth, random());
    const root: DagNode = { fn: f.name, next: [] };
    let level = [root];
    let made = 0;
    for (let d = 1; d <= depth; d++) {
      const size = d === 1 ? width : 1 + Math.floor(random() * width);
      const next = Array.from({ length: size }, (): DagNode => ({ fn: `${f.name}-s${++made}`, next: [] }));
      for (const node of next) level[Math.floor(random() * level.length)]!.next.push(node);
      level = next;
    }
    const walk = (n: DagNode): void => {
      edges[n.fn] = n.next.map((c) => c.fn);
      if (n !== root) functions.push(n.fn);
      n.next.forEach(walk);
    };
    walk(root);
    dags.set(f.name, root);
  }

  const memoryScale = opts.memoryScale ?? 1 / 16;
  const maxDurationMs = opts.maxDurationMs ?? 10_000;
  const node = (f: TraceFunction, dag: DagNode): CallNode => ({
    fn: dag.fn,
    durationMs: Math.min(maxDurationMs, sample(f.durationMs, random()) / opts.speedup),
    kb: Math.round(sample(f.memoryMb, random()) * memoryScale * 1024),
    next: dag.next.map((c) => node(f, c)),
  });
  const arrivals: Arrival[] = [];
  for (let m = 0; m < minutes; m++) {
    // The last minute is cut where `minutes` ends (0.5 minutes: arrivals of the first half only).
    const span = Math.min(1, opts.minutes - m);
    for (const f of chosen) {
      const n = countAt(f, m);
      for (let i = 0; i < n; i++) {
        const t = (m + random()) * 60;
        if (t >= (m + span) * 60) continue;
        arrivals.push({ atMs: (t * 1000) / opts.speedup, minute: m, root: node(f, dags.get(f.name) ?? { fn: f.name, next: [] }) });
      }
    }
  }
  arrivals.sort((a, b) => a.atMs - b.atMs);
  return {
    functions,
    edges,
    arrivals,
    workflows: dags.size,
    traceFunctions: chosen,
    options: {
      minutes: opts.minutes,
      speedup: opts.speedup,
      seed: opts.seed,
      functions: chosen.length,
      workflowShare: share,
      work: opts.work,
      memoryScale,
      maxDurationMs,
      startMinute,
      dir: opts.dir ?? TRACE_DIR,
    },
  };
}

/** Calls in a tree (the root and every successor). */
export function callCount(node: CallNode): number {
  return 1 + node.next.reduce((n, c) => n + callCount(c), 0);
}

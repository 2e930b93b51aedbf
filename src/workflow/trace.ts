/**
 * What a workflow run records: per step when it ran, where, and how often it was tried; per edge how many
 * payload bytes moved and how many bytes Plume copied to move them (docs/workflows.md, "Traces").
 */
import { DEFAULT_RING_BYTES, maxRecordPayload } from '../executor/layout.ts';

/** Where a step ran: 'local' for this node, else the id of the peer node that ran it (docs/dataplane.md, Peers). */
export const LOCAL_NODE = 'local';

/** One invocation of a step's function (one try; one map item or one reduce fold). */
export interface CallTrace {
  /** map: the item's index; reduce: the fold's index. Absent for a plain step. */
  readonly item?: number;
  readonly attempt: number;
  readonly startMs: number;
  readonly endMs: number;
  /** Which worker thread ran it, when the executor says. */
  readonly worker?: number;
  /** The scheduler's decision against the placement hint: 'colocated', 'spread' or 'any' (docs/scheduler.md). */
  readonly placement?: string;
  readonly node: string;
  readonly queuedMs?: number;
  readonly batchSize?: number;
  readonly cold?: boolean;
  /** 'ok' or the PlumeError code it failed with. */
  readonly code: string;
}

export interface StepTrace {
  readonly id: string;
  readonly function: string;
  readonly kind: 'call' | 'map' | 'reduce';
  /** 'skipped': its condition was false, so it passed its input on unchanged. */
  readonly status: 'ok' | 'skipped' | 'failed';
  /** Milliseconds since the run started. */
  readonly startMs: number;
  readonly endMs: number;
  readonly node: string;
  /** The workers its successful invocations ran on, ascending. */
  readonly workers: readonly number[];
  /** Invocations tried, retries and map items included. */
  readonly attempts: number;
  /** Time its invocations spent queued, summed. */
  readonly queuedMs: number;
  /** The largest batch one of its invocations ran in. */
  readonly batchSize?: number;
  readonly outputBytes: number;
  /** Bytes copied to bring its output back from the workers (once, however many steps read it). */
  readonly outputCopied: number;
  readonly calls: readonly CallTrace[];
  /** The PlumeError code, when it failed. */
  readonly error?: string;
}

/** The payload of one step (or `$input`) reaching another (or `$output`). */
export interface EdgeTrace {
  readonly from: string;
  readonly to: string;
  readonly mode: 'embedded' | 'local' | 'networked';
  /** Payload bytes handed to the consumer's invocations, every try and item counted. */
  readonly bytesMoved: number;
  /** Bytes Plume copied to do it: list framing, and into the consumer's worker. */
  readonly bytesCopied: number;
}

export interface WorkflowTrace {
  readonly workflow: string;
  /** 'ok' or the PlumeError code the run failed with. */
  readonly code: string;
  readonly ms: number;
  readonly steps: readonly StepTrace[];
  readonly edges: readonly EdgeTrace[];
  /** Sums over the edges; `bytesCopied` also counts every step's `outputCopied`. */
  readonly bytesMoved: number;
  readonly bytesCopied: number;
}

/** The largest payload the executor's rings carry (default ring size); larger ones cross by postMessage. */
const RING_PAYLOAD = maxRecordPayload(DEFAULT_RING_BYTES);

/**
 * Bytes copied carrying a payload across the thread boundary, either way: into a ring and out of it again
 * (two copies), or one copy by postMessage above the ring's record limit (an input copied once and
 * transferred; an output flattened once, or written in one piece and transferred with none: counted as one).
 */
export function copiedAcross(bytes: number): number {
  return bytes <= RING_PAYLOAD ? 2 * bytes : bytes;
}

/** Collects one run's trace as it happens. */
export class TraceRecorder {
  readonly #origin = performance.now();
  readonly #workflow: string;
  readonly #steps: StepTrace[] = [];
  readonly #edges = new Map<string, { from: string; to: string; mode: EdgeTrace['mode']; bytesMoved: number; bytesCopied: number }>();

  constructor(workflow: string) {
    this.#workflow = workflow;
  }

  /** Milliseconds since the run started. */
  now(): number {
    return performance.now() - this.#origin;
  }

  /** Adds to the edge from → to in that mode (a step whose calls ran in two places has an edge per mode). */
  edge(from: string, to: string, mode: EdgeTrace['mode'], moved: number, copied: number): void {
    const key = `${from}\0${to}\0${mode}`;
    let e = this.#edges.get(key);
    if (!e) this.#edges.set(key, (e = { from, to, mode, bytesMoved: 0, bytesCopied: 0 }));
    e.bytesMoved += moved;
    e.bytesCopied += copied;
  }

  step(trace: StepTrace): void {
    this.#steps.push(trace);
  }

  finish(code: string): WorkflowTrace {
    // Copies: steps still running after a failure go on adding to the live records.
    const edges = [...this.#edges.values()].map((e) => ({ ...e }));
    const steps = [...this.#steps].sort((a, b) => a.startMs - b.startMs);
    let bytesMoved = 0;
    let bytesCopied = 0;
    for (const e of edges) {
      bytesMoved += e.bytesMoved;
      bytesCopied += e.bytesCopied;
    }
    for (const s of steps) bytesCopied += s.outputCopied;
    return { workflow: this.#workflow, code, ms: this.now(), steps, edges, bytesMoved, bytesCopied };
  }
}

/** A step's summary fields, derived from its calls. */
export function summarize(calls: readonly CallTrace[]): Pick<StepTrace, 'workers' | 'attempts' | 'queuedMs' | 'batchSize'> {
  const workers = new Set<number>();
  let queuedMs = 0;
  let batchSize: number | undefined;
  for (const c of calls) {
    if (c.code === 'ok' && c.worker !== undefined) workers.add(c.worker);
    queuedMs += c.queuedMs ?? 0;
    if (c.batchSize !== undefined) batchSize = Math.max(batchSize ?? 0, c.batchSize);
  }
  return {
    workers: [...workers].sort((a, b) => a - b),
    attempts: calls.length,
    queuedMs,
    ...(batchSize === undefined ? {} : { batchSize }),
  };
}

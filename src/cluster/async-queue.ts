/**
 * Async calls as a queue (docs/cluster.md, "Durable async calls"): what was accepted, who runs it, and the
 * results kept for GET. Two backends behind one interface: `MemoryAsyncQueue` (one node, lost with it) and
 * `RedisAsyncQueue` (async-queue-redis.ts: a Redis Stream with a consumer group, so any node runs a call
 * and a call claimed by a node that dies runs elsewhere). The gateway adapts them to HTTP; this layer
 * knows nothing of HTTP but the status numbers it stores.
 *
 * Results are bounded by bytes as well as by count and age: a result larger than `maxResultBytes` is kept
 * as a 413 PLUME_ETOOBIG error instead of its bytes, and past `maxTotalBytes` (or `maxResults`) the oldest
 * finished results are dropped first. Pending calls are never dropped.
 */
import { PlumeError } from '../errors.ts';

export interface AsyncJob {
  readonly id: string;
  readonly function: string;
  readonly input: Uint8Array;
  /** Where the outcome is POSTed (already checked against the callback policy at accept). */
  readonly callbackUrl: string | undefined;
  /** Unix ms. */
  readonly acceptedAt: number;
}

export interface CallError {
  readonly code: string;
  readonly message: string;
}

export type CallState = 'pending' | 'running' | 'done' | 'failed';

export interface CallRecord {
  readonly id: string;
  readonly function: string;
  readonly state: CallState;
  /** 202 while pending; then the status the synchronous call would have answered. */
  readonly status: number;
  readonly output: Uint8Array | undefined;
  readonly error: CallError | undefined;
  readonly callbackUrl: string | undefined;
  /** The node that ran it last. */
  readonly node: string | undefined;
  /** How many times it was started: more than 1 means it ran again after its node was lost (a duplicate). */
  readonly runs: number;
  readonly acceptedAt: number;
  readonly finishedAt: number | undefined;
}

export interface Begun {
  readonly finished: CallRecord | undefined;
  readonly runs: number;
}

/** What running a call produced. */
export type CallOutcome = { readonly status: number; readonly output: Uint8Array } | { readonly status: number; readonly error: CallError };

/** A callback that could not be delivered after its last attempt (`plume async ls --failed`). */
export interface DeadLetter {
  readonly id: string;
  readonly function: string;
  readonly callbackUrl: string;
  readonly status: number;
  readonly attempts: number;
  readonly lastError: string;
  readonly at: number;
}

export interface AsyncBounds {
  /** How long a finished result stays retrievable; default 10 minutes. */
  readonly ttlMs?: number;
  /** Finished results kept at most; default 1000. */
  readonly maxResults?: number;
  /** Largest result kept as bytes; a larger one is kept as a 413 error. Default 1 MiB. */
  readonly maxResultBytes?: number;
  /** Bytes of finished results kept in all, oldest dropped first; default 64 MiB. */
  readonly maxTotalBytes?: number;
  /** Dead letters kept, newest first; default 1000. */
  readonly maxDeadLetters?: number;
}

export interface ResolvedBounds {
  readonly ttlMs: number;
  readonly maxResults: number;
  readonly maxResultBytes: number;
  readonly maxTotalBytes: number;
  readonly maxDeadLetters: number;
}

/** Runs one job to its end (result stored, callback delivered or dead-lettered); the queue settles it after. */
export type JobHandler = (job: AsyncJob) => Promise<void>;

export interface AsyncQueue {
  /** Whether an accepted call survives this node (Redis) or not (memory). */
  readonly durable: boolean;
  readonly bounds: ResolvedBounds;
  /** Record the call as pending and queue it; resolves once it is stored (before the 202). */
  accept(job: AsyncJob): Promise<void>;
  get(id: string): Promise<CallRecord | undefined>;
  /**
   * A node starts the call: its run count goes up (`runs`, this one included). Answers the stored record
   * as `finished` instead when the call already finished (a node died after storing the result, before
   * settling): it must not run again.
   */
  begin(job: AsyncJob, node: string): Promise<Begun>;
  /** Store the outcome (bounded by bytes); the first stored outcome of a call wins. */
  finish(job: AsyncJob, node: string, outcome: CallOutcome): Promise<CallRecord>;
  deadLetter(letter: DeadLetter): Promise<void>;
  failed(limit?: number): Promise<DeadLetter[]>;
  /** Recent calls, newest first, without their output bytes. */
  recent(limit?: number): Promise<CallRecord[]>;
  /** Start taking jobs: at most `capacity()` at a time; each is settled when `handler` resolves. */
  consume(handler: JobHandler, capacity: () => number): void;
  close(): Promise<void>;
}

export function resolveBounds(b: AsyncBounds = {}): ResolvedBounds {
  const r = {
    ttlMs: b.ttlMs ?? 10 * 60_000,
    maxResults: b.maxResults ?? 1000,
    maxResultBytes: b.maxResultBytes ?? 1024 * 1024,
    maxTotalBytes: b.maxTotalBytes ?? 64 * 1024 * 1024,
    maxDeadLetters: b.maxDeadLetters ?? 1000,
  };
  for (const [name, v] of Object.entries(r)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`async ${name} must be a positive integer, got ${String(v)}`);
  }
  return r;
}

/** An outcome as it will be kept: bytes past the per-result bound become a 413 error that says so. */
export function boundOutcome(fn: string, outcome: CallOutcome, maxResultBytes: number): CallOutcome {
  if (!('output' in outcome) || outcome.output.length <= maxResultBytes) return outcome;
  const err = new PlumeError(
    'PLUME_ETOOBIG',
    `the result of function '${fn}' is ${outcome.output.length} bytes, more than the ${maxResultBytes} an async result may keep: call it synchronously`,
  );
  return { status: 413, error: { code: err.code, message: err.message } };
}

/** Bytes a finished record holds, for the total bound (the fixed part approximates ids and fields). */
export function recordBytes(outcome: CallOutcome): number {
  return 256 + ('output' in outcome ? outcome.output.length : outcome.error.message.length);
}

/** One node's queue: jobs run as they are accepted (the gateway admitted them at the door). */
export class MemoryAsyncQueue implements AsyncQueue {
  readonly durable = false;
  readonly bounds: ResolvedBounds;
  readonly #calls = new Map<string, CallRecord>();
  /** Finished ids, oldest first (a Map keeps insertion order), with their bytes. */
  readonly #finished = new Map<string, { at: number; bytes: number }>();
  #totalBytes = 0;
  readonly #dead: DeadLetter[] = [];
  #handler: JobHandler | undefined;

  constructor(bounds: AsyncBounds = {}) {
    this.bounds = resolveBounds(bounds);
  }

  async accept(job: AsyncJob): Promise<void> {
    this.#calls.set(job.id, pendingRecord(job));
    const handler = this.#handler;
    if (!handler) throw new PlumeError('PLUME_ECLOSED', 'the async queue is not consuming');
    // The caller tracks nothing: the gateway's handler tracks itself, so close() waits for it.
    void handler(job);
  }

  async get(id: string): Promise<CallRecord | undefined> {
    this.#evict();
    return this.#calls.get(id);
  }

  async begin(job: AsyncJob, node: string): Promise<Begun> {
    const call = this.#calls.get(job.id) ?? pendingRecord(job);
    if (call.state === 'done' || call.state === 'failed') return { finished: call, runs: call.runs };
    this.#calls.set(job.id, { ...call, state: 'running', node, runs: call.runs + 1 });
    return { finished: undefined, runs: call.runs + 1 };
  }

  async finish(job: AsyncJob, node: string, outcome: CallOutcome): Promise<CallRecord> {
    const before = this.#calls.get(job.id) ?? pendingRecord(job);
    if (before.state === 'done' || before.state === 'failed') return before;
    const kept = boundOutcome(job.function, outcome, this.bounds.maxResultBytes);
    const record = finishedRecord(before, node, kept);
    const bytes = recordBytes(kept);
    this.#calls.set(job.id, record);
    this.#finished.set(job.id, { at: Date.now(), bytes });
    this.#totalBytes += bytes;
    this.#evict();
    return record;
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    this.#dead.unshift(letter);
    if (this.#dead.length > this.bounds.maxDeadLetters) this.#dead.length = this.bounds.maxDeadLetters;
  }

  async failed(limit = 100): Promise<DeadLetter[]> {
    return this.#dead.slice(0, limit);
  }

  async recent(limit = 100): Promise<CallRecord[]> {
    this.#evict();
    return [...this.#calls.values()]
      .slice(-limit)
      .reverse()
      .map((c) => ({ ...c, output: undefined }));
  }

  consume(handler: JobHandler): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#handler = undefined;
  }

  #evict(): void {
    const expired = Date.now() - this.bounds.ttlMs;
    for (const [id, { at, bytes }] of this.#finished) {
      const over = this.#finished.size > this.bounds.maxResults || this.#totalBytes > this.bounds.maxTotalBytes;
      if (at > expired && !over) break;
      this.#finished.delete(id);
      this.#calls.delete(id);
      this.#totalBytes -= bytes;
    }
  }
}

export function pendingRecord(job: AsyncJob): CallRecord {
  return {
    id: job.id,
    function: job.function,
    state: 'pending',
    status: 202,
    output: undefined,
    error: undefined,
    callbackUrl: job.callbackUrl,
    node: undefined,
    runs: 0,
    acceptedAt: job.acceptedAt,
    finishedAt: undefined,
  };
}

function finishedRecord(before: CallRecord, node: string, outcome: CallOutcome): CallRecord {
  const ok = 'output' in outcome;
  return {
    ...before,
    state: ok ? 'done' : 'failed',
    status: outcome.status,
    output: ok ? outcome.output : undefined,
    error: ok ? undefined : outcome.error,
    node,
    finishedAt: Date.now(),
  };
}

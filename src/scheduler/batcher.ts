/**
 * Request batching, generic over what a batch is: callers submit single items, a `run` function takes a
 * list of them and returns one result per item, in order. The runtime uses it for batched functions (a
 * batch is one invocation with a list input); WASI-NN can use it to batch tensors. Policies
 * (docs/scheduler.md): `none` runs every item at once; `fixed` forms batches like Ray Serve (up to maxSize
 * items, the first waits at most maxWaitMs); `adaptive` dispatches at once while a slot is free and lets
 * batches form only while every slot is busy, their size capped by an online model and a latency objective.
 */
import { PlumeError } from '../errors.ts';
import type { BatchMode, BatchPolicy } from '../engine/definition.ts';
import { events } from '../events.ts';
import { adaptiveSize, ArrivalRate, ServiceModel } from './batch-model.ts';

export type { BatchMode, BatchPolicy };

export interface BatcherOptions<I, O> {
  /** Names the batches in events (`plume:batch:formed`'s `function`) and errors. */
  readonly name: string;
  /** Runs one batch: must resolve with exactly one result per item, in the same order. */
  readonly run: (items: I[]) => Promise<O[]>;
  readonly policy: BatchPolicy;
}

export interface BatchedResult<O> {
  readonly value: O;
  /** From submit until the item's batch started. */
  readonly queuedMs: number;
  readonly batchSize: number;
}

interface Waiting<I, O> {
  readonly item: I;
  readonly since: number;
  readonly resolve: (r: BatchedResult<O>) => void;
  readonly reject: (e: Error) => void;
}

const MODES: readonly BatchMode[] = ['none', 'fixed', 'adaptive'];

export class Batcher<I, O> {
  readonly name: string;
  readonly #run: (items: I[]) => Promise<O[]>;
  readonly #mode: BatchMode;
  readonly #maxSize: number;
  readonly #maxWaitMs: number;
  readonly #target: number | undefined;
  readonly #capacity: number;
  readonly #queue: Waiting<I, O>[] = [];
  readonly #service = new ServiceModel();
  readonly #arrivals = new ArrivalRate();
  #running = 0;
  /** When the last batch started (adaptive: the backlog's arrival rate is measured since then). */
  #lastDispatch = 0;
  /** fixed: the timer of the batch being formed. */
  #formTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: BatcherOptions<I, O>) {
    const policy = checkBatchPolicy(options.policy);
    this.name = options.name;
    this.#run = options.run;
    this.#mode = policy.mode;
    this.#maxSize = policy.maxSize ?? (policy.mode === 'fixed' ? 10 : 32);
    this.#maxWaitMs = policy.maxWaitMs ?? 10;
    this.#target = policy.targetP90Ms;
    this.#capacity = policy.capacity ?? 1;
  }

  /** Items waiting for a batch. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  submit(item: I): Promise<O> {
    return this.submitDetailed(item).then((r) => r.value);
  }

  submitDetailed(item: I): Promise<BatchedResult<O>> {
    if (this.#closed) return Promise.reject(new PlumeError('PLUME_ECLOSED', `the batcher of '${this.name}' is closed`));
    const since = performance.now();
    return new Promise<BatchedResult<O>>((resolve, reject) => {
      const waiting = { item, since, resolve, reject };
      if (this.#mode === 'none') {
        this.#dispatch([waiting], since);
        return;
      }
      this.#arrivals.arrive(since);
      this.#queue.push(waiting);
      this.#pump();
    });
  }

  /** Queued items fail with PLUME_ECLOSED; running batches finish. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#formTimer);
    this.#formTimer = undefined;
    const closed = new PlumeError('PLUME_ECLOSED', `the batcher of '${this.name}' closed before the item ran`);
    for (const w of this.#queue.splice(0)) w.reject(closed);
  }

  /** Start every batch the policy allows now. */
  #pump(): void {
    while (this.#queue.length > 0 && this.#running < this.#capacity && !this.#closed) {
      if (this.#mode === 'adaptive') {
        const now = performance.now();
        this.#dispatch(this.#queue.splice(0, this.#sizeCap(this.#rate(now))), now);
        continue;
      }
      // fixed (Ray Serve): a full batch goes at once; a partial one waits until maxWaitMs after it began
      // forming, i.e. after a slot became free for it.
      if (this.#queue.length >= this.#maxSize || this.#maxWaitMs === 0) {
        clearTimeout(this.#formTimer);
        this.#formTimer = undefined;
        this.#dispatch(this.#queue.splice(0, this.#maxSize), performance.now());
        continue;
      }
      this.#formTimer ??= setTimeout(() => {
        this.#formTimer = undefined;
        if (this.#running < this.#capacity) this.#dispatch(this.#queue.splice(0, this.#maxSize), performance.now());
        this.#pump();
      }, this.#maxWaitMs);
      return;
    }
  }

  /**
   * Arrivals per ms: the larger of the smoothed rate and the rate the backlog implies (queued items over
   * the time since the last batch started). The smoothed rate lags a burst by its time constant; the
   * backlog does not, so a burst or a queue left behind raises the size cap at once.
   */
  #rate(now: number): number {
    const backlog = this.#queue.length / Math.max(now - this.#lastDispatch, 1);
    return Math.max(this.#arrivals.at(now), backlog);
  }

  #sizeCap(rate: number): number {
    if (this.#service.weight === 0) return this.#maxSize;
    return adaptiveSize({
      maxSize: this.#maxSize,
      capacity: this.#capacity,
      fixedMs: this.#service.fixedMs,
      perItemMs: this.#service.perItemMs,
      rate,
      targetP90Ms: this.#target,
    });
  }

  #dispatch(batch: Waiting<I, O>[], now: number): void {
    if (batch.length === 0) return;
    this.#running++;
    this.#lastDispatch = now;
    if (events.batch.hasSubscribers) events.batch.publish({ function: this.name, size: batch.length, waitMs: now - batch[0]!.since });
    let pending: Promise<O[]>;
    try {
      pending = this.#run(batch.map((w) => w.item));
    } catch (err) {
      pending = Promise.reject(err as Error);
    }
    pending.then(
      (values) => this.#finish(batch, now, values),
      (err: unknown) => this.#fail(batch, err instanceof Error ? err : new Error(String(err))),
    );
  }

  #finish(batch: Waiting<I, O>[], started: number, values: O[]): void {
    if (!Array.isArray(values) || values.length !== batch.length) {
      const got = Array.isArray(values) ? `${values.length} results` : 'no list';
      this.#fail(
        batch,
        new PlumeError('PLUME_EOUTPUT', `'${this.name}' returned ${got} for a batch of ${batch.length}`, { function: this.name }),
      );
      return;
    }
    this.#service.observe(batch.length, performance.now() - started);
    this.#running--;
    batch.forEach((w, i) => w.resolve({ value: values[i]!, queuedMs: started - w.since, batchSize: batch.length }));
    this.#pump();
  }

  #fail(batch: Waiting<I, O>[], error: Error): void {
    this.#running--;
    for (const w of batch) w.reject(error);
    this.#pump();
  }
}

/** Checks a policy from user input; a TypeError or RangeError names the offending field. */
export function checkBatchPolicy(policy: BatchPolicy): BatchPolicy {
  if (typeof policy !== 'object' || policy === null) throw new TypeError(`batch must be an object with a mode, got ${String(policy)}`);
  if (!MODES.includes(policy.mode)) throw new TypeError(`batch.mode must be 'none', 'fixed' or 'adaptive', got '${String(policy.mode)}'`);
  const positiveInteger = (key: 'maxSize' | 'capacity'): void => {
    const v = policy[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw new RangeError(`batch.${key} must be a positive integer, got ${String(v)}`);
  };
  positiveInteger('maxSize');
  positiveInteger('capacity');
  const { maxWaitMs, targetP90Ms } = policy;
  if (maxWaitMs !== undefined && !(Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) {
    throw new RangeError(`batch.maxWaitMs must be a non-negative number of ms, got ${String(maxWaitMs)}`);
  }
  if (targetP90Ms !== undefined && !(Number.isFinite(targetP90Ms) && targetP90Ms > 0)) {
    throw new RangeError(`batch.targetP90Ms must be a positive number of ms, got ${String(targetP90Ms)}`);
  }
  return policy;
}

/**
 * Asynchronous calls (`POST /async-function/:name`) over an async queue (src/cluster/async-queue.ts): in
 * memory on one node, or durable in Redis (`plume up --redis`), where any node runs a call and GET works
 * on any node. This facade checks a callback URL before anything is accepted, runs the jobs the queue
 * hands it, stores their outcome, and delivers the callback (at least once; dead-lettered after its last
 * attempt). Results are bounded by age, count and bytes (docs/gateway.md, "Async calls and callbacks").
 */
import { randomUUID } from 'node:crypto';
import {
  MemoryAsyncQueue,
  type AsyncBounds,
  type AsyncJob,
  type AsyncQueue,
  type CallOutcome,
  type CallRecord,
  type DeadLetter,
} from '../cluster/async-queue.ts';
import { RedisAsyncQueue } from '../cluster/async-queue-redis.ts';
import { PlumeError } from '../errors.ts';
import { CallbackSender, type CallbackOptions } from './callbacks.ts';
import { errorBody, statusOf } from './http-errors.ts';
import { Headers } from './protocol.ts';

export interface AsyncCallOptions extends AsyncBounds {
  /** Time allowed for the callback receiver to answer one attempt; default 10 s. */
  readonly callbackTimeoutMs?: number;
  /** Callback policy, signing and retries (callbacks.ts). */
  readonly callbacks?: CallbackOptions;
  /** Keep the queue in Redis (durable, shared by every node on it) instead of in memory. */
  readonly redis?: {
    readonly url: string;
    readonly visibilityMs?: number;
    readonly maxBacklog?: number;
    readonly maxBacklogBytes?: number;
    readonly onConnection?: (up: boolean, error?: Error) => void;
  };
  /** This node's name as a consumer of the queue; default `node-<pid>`. */
  readonly node?: string;
  /** Durable calls this node runs at once at most (fewer while sync calls fill its doors); default 2 per worker. */
  readonly concurrency?: number;
  /**
   * Times a call may be started before it is failed without running again (500 PLUME_EWORKER): a call
   * whose node is lost every time it runs (killed for memory, say) must not take down node after node.
   * Default 5.
   */
  readonly maxRuns?: number;
  /** Largest input an async call may carry (it is stored until run); default 16 MiB, and never above the function's own limit. */
  readonly maxInputBytes?: number;
}

/** Runs a job's function; `admitted` says the route already took its place at the door (memory queue). */
export type AsyncExecutor = (job: AsyncJob, admitted: boolean) => Promise<Uint8Array>;

export interface AsyncServeOptions {
  readonly execute: AsyncExecutor;
  /** Calls in flight at this node's doors (sync and async): a busy node takes fewer durable calls. */
  readonly busy: () => number;
  readonly workers: number;
  readonly track: (work: Promise<unknown>) => void;
}

export class AsyncCalls {
  readonly #queue: AsyncQueue;
  readonly #sender: CallbackSender;
  readonly #node: string;
  readonly #options: AsyncCallOptions;
  readonly maxInputBytes: number;
  #running = 0;

  constructor(options: AsyncCallOptions = {}) {
    this.#options = options;
    this.#node = options.node ?? `node-${process.pid}`;
    this.maxInputBytes = options.maxInputBytes ?? 16 * 1024 * 1024;
    this.#queue = options.redis ? new RedisAsyncQueue({ ...options, ...options.redis, node: this.#node }) : new MemoryAsyncQueue(options);
    this.#sender = new CallbackSender({
      ...(options.callbackTimeoutMs ? { timeoutMs: options.callbackTimeoutMs } : {}),
      ...options.callbacks,
    });
  }

  /** Whether accepted calls survive this node (Redis). */
  get durable(): boolean {
    return this.#queue.durable;
  }

  /** `X-Callback-Url`, checked against the callback policy (400 before anything is accepted). */
  async checkCallback(header: string | string[] | undefined): Promise<string | undefined> {
    if (header === undefined) return undefined;
    const value = Array.isArray(header) ? header.join(',') : header;
    return (await this.#sender.policy.check(value)).url.href;
  }

  /** Store the call (in Redis before the 202 when durable); its id. */
  async accept(fn: string, input: Uint8Array, callbackUrl: string | undefined): Promise<string> {
    if (input.length > this.maxInputBytes) {
      throw new PlumeError('PLUME_ETOOBIG', `an async call's input may be at most ${this.maxInputBytes} bytes, got ${input.length}`);
    }
    const job: AsyncJob = { id: randomUUID(), function: fn, input, callbackUrl, acceptedAt: Date.now() };
    await this.#queue.accept(job);
    return job.id;
  }

  get(id: string): Promise<CallRecord | undefined> {
    return this.#queue.get(id);
  }

  failed(limit?: number): Promise<DeadLetter[]> {
    return this.#queue.failed(limit);
  }

  recent(limit?: number): Promise<CallRecord[]> {
    return this.#queue.recent(limit);
  }

  /** Start running the calls the queue hands this node. */
  serve(options: AsyncServeOptions): void {
    const limit = this.#options.concurrency ?? 2 * options.workers;
    const handler = (job: AsyncJob): Promise<void> => {
      this.#running++;
      const work = this.#handle(job, options.execute).finally(() => this.#running--);
      options.track(work.catch(() => {}));
      return work;
    };
    this.#queue.consume(handler, () => Math.max(0, limit - Math.max(this.#running, options.busy())));
  }

  /** Stop taking calls; resolves when the ones this node runs are settled. */
  close(): Promise<void> {
    return this.#queue.close();
  }

  async #handle(job: AsyncJob, execute: AsyncExecutor): Promise<void> {
    const begun = await this.#queue.begin(job, this.#node);
    let record = begun.finished;
    if (!record) {
      const maxRuns = this.#options.maxRuns ?? 5;
      let outcome: CallOutcome;
      if (begun.runs > maxRuns) {
        const message = `async call '${job.id}' of function '${job.function}' was started ${maxRuns} times and its node was lost each time: it is not run again`;
        outcome = { status: 500, error: { code: 'PLUME_EWORKER', message } };
      } else {
        try {
          outcome = { status: 200, output: await execute(job, !this.durable) };
        } catch (err) {
          outcome = { status: statusOf(err), error: errorBody(err).error };
        }
      }
      record = await this.#queue.finish(job, this.#node, outcome);
    }
    if (job.callbackUrl) await this.#callback(job, job.callbackUrl, record);
  }

  async #callback(job: AsyncJob, url: string, record: CallRecord): Promise<void> {
    const body = record.output ?? new TextEncoder().encode(JSON.stringify({ error: record.error }));
    const result = await this.#sender.deliver({
      callId: job.id,
      url,
      body,
      headers: {
        'content-type': record.output ? 'application/octet-stream' : 'application/json',
        [Headers.callId]: job.id,
        [Headers.functionName]: job.function,
        [Headers.functionStatus]: String(record.status),
      },
    });
    if (!result.ok) {
      await this.#queue.deadLetter({
        id: job.id,
        function: job.function,
        callbackUrl: url,
        status: record.status,
        attempts: result.attempts,
        lastError: result.lastError,
        at: Date.now(),
      });
    }
  }
}

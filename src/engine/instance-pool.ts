/**
 * Warm instances of one function version on one thread. An instance is reset to the snapshot right after
 * each invocation, so the next one starts clean and fast; a stateful function keeps one instance (an actor)
 * that is never reset. Pools grow on demand and shrink when idle: an instance unused for `def.idleMs` is
 * dropped (down to `def.minWarm`), while the snapshot stays, so the next call restores in microseconds.
 */
import { Payload } from '../data/payload.ts';
import { PlumeError } from '../errors.ts';
import type { GuestServices, Hop, HostInterface } from './host-interface.ts';
import type { FunctionDefinition } from './definition.ts';
import { FunctionInstance, newCall, type InvocationResult, type LogSink } from './instance.ts';
import type { MemoryPool, MemoryShape } from './memory-pool.ts';
import { Deadlines, type Deadline } from './deadlines.ts';

export class InstancePool {
  readonly def: FunctionDefinition;
  readonly #hosts: readonly HostInterface[];
  readonly #memories: MemoryPool;
  readonly #logSink: LogSink;
  /** A stack: calls take the most recently used instance, so the least recently used sit at the bottom. */
  readonly #idle: FunctionInstance[] = [];
  /** performance.now() when each #idle instance was parked, in the same order. */
  readonly #idleSince: number[] = [];
  #trimTimer: NodeJS.Timeout | undefined;
  /** Used instances waiting for their reset, which runs after the result has gone out (see #release). */
  readonly #dirty: FunctionInstance[] = [];
  #resetScheduled = false;
  readonly #shape: MemoryShape;
  readonly #services: GuestServices;
  /** The timeouts of this pool's suspended calls. */
  readonly #deadlines = new Deadlines();
  /** Instances created over this pool's life (prewarmed ones included). */
  created = 0;
  /** Calls that found no idle instance and created one. */
  coldStarts = 0;
  /** Calls run (a batch is one call). */
  invocations = 0;
  busy = 0;

  constructor(
    def: FunctionDefinition,
    hosts: readonly HostInterface[],
    memories: MemoryPool,
    logSink: LogSink,
    services: GuestServices = {},
  ) {
    this.def = def;
    this.#services = services;
    this.#hosts = hosts;
    this.#memories = memories;
    this.#logSink = logSink;
    this.#shape = {
      initial: def.snapshot?.pages ?? def.memoryMinPages,
      maximum: def.memoryMaxPages,
      shared: def.sharedMemory,
    };
  }

  get idle(): number {
    return this.#idle.length + this.#dirty.length;
  }

  /** A new instance from the snapshot, in a pre-faulted memory when one is spare (Proto-Faaslet restore). */
  create(): FunctionInstance {
    const { memory, dirty } = this.def.memoryImport
      ? this.#memories.take(this.#shape)
      : { memory: new WebAssembly.Memory({ initial: 0, maximum: 0 }), dirty: false };
    const inst = new FunctionInstance(this.def, this.#hosts, memory, this.#logSink, this.#services);
    // Pre-faulted memories are still all zero, like fresh ones; a recycled one is overwritten whole.
    if (this.def.snapshot) inst.restore(this.def.snapshot, !dirty);
    this.created++;
    return inst;
  }

  /** Drop an idle instance, giving its memory back to the pool for the next instance of any function. */
  discard(inst: FunctionInstance): void {
    if (this.def.memoryImport) this.#memories.give(this.#shape, inst.memory);
  }

  /**
   * Park `count` idle instances ready to run (warm pool minimum, density benchmark). With `exercise`, each
   * new instance first runs one call with an empty input and is reset, as a pool that has served traffic.
   */
  prewarm(count: number, exercise = false): void {
    const now = performance.now();
    while (this.#idle.length + this.#dirty.length < count) {
      const inst = this.create();
      if (exercise && this.def.snapshot && !this.def.suspends) {
        try {
          inst.run(newCall(Payload.empty, this.def.limits.maxOutputBytes));
        } catch {
          // A function may reject an empty input; the instance is reset either way.
        }
        inst.restore(this.def.snapshot);
      }
      this.#park(inst, now);
    }
  }

  /** Drop idle instances beyond `keep` (scale down; the snapshot stays, so the next call restores fast). */
  trim(keep = 0): void {
    const now = performance.now();
    while (this.#dirty.length > 0) this.#park(this.#resetOne()!, now);
    const drop = Math.max(0, this.#idle.length - keep);
    for (const inst of this.#idle.splice(0, drop)) this.discard(inst);
    this.#idleSince.splice(0, drop);
  }

  /** Stop the idle timer and drop every idle instance (the version was removed). */
  close(): void {
    clearTimeout(this.#trimTimer);
    this.#trimTimer = undefined;
    this.#deadlines.close();
    this.trim(0);
  }

  /** `root`: the executor's id of the outermost invocation (for the watchdog), inherited by chained calls. */
  invoke(input: Payload, root = 0, trace?: Hop[]): InvocationResult | Promise<InvocationResult> {
    const inst = this.#takeIdle() ?? this.#resetOne() ?? this.#createCold();
    const call = newCall(input, this.def.limits.maxOutputBytes, root, trace);
    this.busy++;
    this.invocations++;
    let result: InvocationResult | Promise<InvocationResult>;
    try {
      result = inst.run(call);
    } catch (err) {
      this.#release(inst, true);
      throw err;
    }
    if (!(result instanceof Promise)) {
      this.#release(inst, false);
      return result;
    }
    return this.#awaitWithTimeout(inst, result);
  }

  /**
   * A suspended guest leaves the thread free, so its timeout can be enforced here; the instance is abandoned
   * (its pending promise settles into nothing). A guest spinning in a loop never yields: the executor's
   * watchdog replaces its worker instead. Every call of a pool has the same timeout, so deadlines come in
   * start order: they wait in one queue behind one timer (#deadlines), not a timer per call, which a
   * fan-out's callees (each a promise of a module that may suspend) would otherwise each arm and clear.
   */
  #awaitWithTimeout(inst: FunctionInstance, pending: Promise<InvocationResult>): Promise<InvocationResult> {
    const { promise, resolve, reject } = Promise.withResolvers<InvocationResult>();
    const deadline: Deadline = {
      at: performance.now() + this.def.limits.timeoutMs,
      running: true,
      expire: () => {
        this.busy--;
        reject(timeoutError(this.def));
      },
    };
    this.#deadlines.add(deadline);
    pending.then(
      (result) => {
        if (!deadline.running) return;
        this.#deadlines.done(deadline);
        this.#release(inst, false);
        resolve(result);
      },
      (err: unknown) => {
        if (!deadline.running) return;
        this.#deadlines.done(deadline);
        if (err instanceof PlumeError && err.code === 'PLUME_ETIMEOUT') this.busy--;
        else this.#release(inst, true);
        reject(err);
      },
    );
    return promise;
  }

  /**
   * Resetting zeroes the instance's whole memory, so it must not delay the result: the instance waits in
   * #dirty and is reset on an idle tick, or at once by a call that finds no clean instance.
   */
  #release(inst: FunctionInstance, failed: boolean): void {
    this.busy--;
    const snapshot = this.def.snapshot;
    if (!snapshot) return;
    if (this.def.stateful && !failed) {
      this.#park(inst, performance.now());
      return;
    }
    // A memory that grew cannot shrink back; such an instance is dropped and a fresh one made on demand.
    if (!inst.reusable(snapshot)) return;
    this.#dirty.push(inst);
    if (!this.#resetScheduled) {
      this.#resetScheduled = true;
      setImmediate(() => {
        this.#resetScheduled = false;
        const now = performance.now();
        while (this.#dirty.length > 0) this.#park(this.#resetOne()!, now);
      });
    }
  }

  #createCold(): FunctionInstance {
    this.coldStarts++;
    return this.create();
  }

  #takeIdle(): FunctionInstance | undefined {
    this.#idleSince.pop();
    return this.#idle.pop();
  }

  #park(inst: FunctionInstance, now: number): void {
    this.#idle.push(inst);
    this.#idleSince.push(now);
    if (this.#trimTimer === undefined && this.#idle.length > this.def.minWarm) this.#armTrim(this.def.idleMs);
  }

  /**
   * One timer per pool, armed only while it holds more idle instances than minWarm: it fires when the
   * least recently used one has been idle for idleMs. A stateful function's instance holds its state, so it
   * is never dropped for idleness.
   */
  #armTrim(delayMs: number): void {
    if (this.def.stateful || !(this.def.idleMs <= MAX_TIMER_MS)) return;
    this.#trimTimer = setTimeout(() => this.#trimIdle(), Math.max(0, delayMs));
    this.#trimTimer.unref();
  }

  #trimIdle(): void {
    this.#trimTimer = undefined;
    const cutoff = performance.now() - this.def.idleMs;
    let expired = 0;
    while (expired < this.#idleSince.length && this.#idleSince[expired]! <= cutoff) expired++;
    const drop = Math.min(expired, this.#idle.length - this.def.minWarm);
    if (drop > 0) {
      for (const inst of this.#idle.splice(0, drop)) this.discard(inst);
      this.#idleSince.splice(0, drop);
    }
    if (this.#idle.length > this.def.minWarm) this.#armTrim(this.#idleSince[0]! - cutoff);
  }

  #resetOne(): FunctionInstance | undefined {
    const inst = this.#dirty.pop();
    inst?.restore(this.def.snapshot!);
    return inst;
  }
}

/** setTimeout's longest delay; a longer idleMs (Infinity included) means never. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function timeoutError(def: FunctionDefinition): PlumeError {
  return new PlumeError('PLUME_ETIMEOUT', `function '${def.name}' timed out after ${def.limits.timeoutMs} ms`, {
    function: def.name,
  });
}

export function inputError(def: { readonly name: string; readonly limits: { readonly maxInputBytes: number } }, bytes: number): PlumeError {
  return new PlumeError('PLUME_EINPUT', `the input of '${def.name}' is ${bytes} bytes, over its limit of ${def.limits.maxInputBytes}`, {
    function: def.name,
  });
}

/**
 * Warm instances of one function version on one thread. An instance is reset to the snapshot right after
 * each invocation, so the next one starts clean and fast; a stateful function keeps one instance (an actor)
 * that is never reset. Pools grow on demand and shrink when idle: an instance unused for `def.idleMs` is
 * dropped (down to `def.minWarm`), while the snapshot stays, so the next call restores in microseconds.
 * An idle instance keeps its memory resident (reset zeroes it in place) only for COMPACT_MS: then it is
 * replaced by a lean one, restored into a memory of which only the snapshot's pages are resident.
 */
import { Payload } from '../data/payload.ts';
import { PlumeError } from '../errors.ts';
import type { GuestServices, Hop, HostInterface } from './host-interface.ts';
import type { FunctionDefinition } from './definition.ts';
import { FunctionInstance, newCall, type InvocationResult, type LogSink } from './instance.ts';
import type { MemoryPool, MemoryShape } from './memory-pool.ts';
import { Deadlines, type Deadline } from './deadlines.ts';
import { PAGE_BYTES } from './definition.ts';

export class InstancePool {
  readonly def: FunctionDefinition;
  readonly #hosts: readonly HostInterface[];
  readonly #memories: MemoryPool;
  readonly #logSink: LogSink;
  /** A stack: calls take the most recently used instance, so the least recently used sit at the bottom. */
  readonly #idle: FunctionInstance[] = [];
  /** performance.now() when each #idle instance was parked, in the same order. */
  readonly #idleSince: number[] = [];
  /** One timer for the idle instances: the next compaction or trim, whichever comes first. */
  #idleTimer: NodeJS.Timeout | undefined;
  #idleTimerAt = Infinity;
  /**
   * Instances whose memory holds no page beyond the snapshot's (restored into a fresh, lazily-faulted
   * memory and not run since). Idle instances not in it hold every page of their memory: compaction's work.
   */
  readonly #lean = new WeakSet<FunctionInstance>();
  /** Idle instances of this pool are worth compacting (see COMPACT_MIN_BYTES). */
  readonly #compactable: boolean;
  /** Replacements owed for instances dropped after a call (their memory grew), made on an idle tick. */
  #owed = 0;
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
  /** Instances made off the call path: compactions and replacements of grown ones (not in `created`). */
  replaced = 0;
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
    const spare = this.#shape.initial * PAGE_BYTES - (def.snapshot?.data.byteLength ?? 0);
    this.#compactable = def.memoryImport !== undefined && def.snapshot !== undefined && !def.stateful && spare >= COMPACT_MIN_BYTES;
  }

  get idle(): number {
    return this.#idle.length + this.#dirty.length;
  }

  /** A new instance from the snapshot, in a pre-faulted memory when one is spare (Proto-Faaslet restore). */
  create(): FunctionInstance {
    const { memory, dirty, resident } = this.def.memoryImport
      ? this.#memories.take(this.#shape)
      : { memory: new WebAssembly.Memory({ initial: 0, maximum: 0 }), dirty: false, resident: false };
    const inst = this.#instantiate(memory, dirty);
    if (!resident) this.#lean.add(inst);
    this.created++;
    return inst;
  }

  /** Pre-faulted memories are still all zero, like fresh ones; a recycled one is overwritten whole. */
  #instantiate(memory: WebAssembly.Memory, dirty: boolean): FunctionInstance {
    const inst = new FunctionInstance(this.def, this.#hosts, memory, this.#logSink, this.#services);
    if (this.def.snapshot) inst.restore(this.def.snapshot, !dirty);
    return inst;
  }

  /**
   * Drop an idle instance, giving its memory back to the pool for the next instance of any function. A lean
   * one's is left to the collector: a taker would zero it whole, making resident what was not.
   */
  discard(inst: FunctionInstance): void {
    if (this.def.memoryImport && !this.#lean.has(inst)) this.#memories.give(this.#shape, inst.memory);
  }

  /**
   * Replace every idle instance that holds more than its snapshot's pages by a lean one (the timer does this
   * COMPACT_MS after an instance went idle). The old memory is unmapped when the collector frees it; new
   * memories count against V8's external-memory budget, so a run of compactions triggers that collection.
   */
  compact(olderThanMs = 0): void {
    if (!this.#compactable) return;
    const cutoff = performance.now() - olderThanMs;
    for (let i = 0; i < this.#idle.length; i++) {
      if (this.#idleSince[i]! > cutoff || this.#lean.has(this.#idle[i]!)) continue;
      const lean = this.#leanInstance();
      if (!lean) return;
      this.#idle[i] = lean;
    }
  }

  /** A new instance in a fresh, lazily-faulted memory, off the call path; undefined if one cannot be made now. */
  #leanInstance(): FunctionInstance | undefined {
    try {
      const inst = this.#instantiate(this.#memories.fresh(this.#shape), false);
      this.#lean.add(inst);
      this.replaced++;
      return inst;
    } catch {
      // Out of address space for another memory, say: the pool keeps what it has and a call may create later.
      return undefined;
    }
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
        this.#lean.delete(inst);
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
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#idleTimerAt = Infinity;
    this.#owed = 0;
    this.#deadlines.close();
    this.trim(0);
  }

  /** `root`: the executor's id of the outermost invocation (for the watchdog), inherited by chained calls. */
  invoke(input: Payload, root = 0, trace?: Hop[]): InvocationResult | Promise<InvocationResult> {
    const inst = this.#takeIdle() ?? this.#resetOne() ?? this.#createCold();
    // The call may touch any page of its memory; its reset keeps them resident until compaction.
    this.#lean.delete(inst);
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
    // A memory that grew cannot shrink back: such an instance is dropped, and its reset is a lean
    // replacement, made on the same idle tick as the others' (a call that comes first creates one, cold).
    if (inst.reusable(snapshot)) this.#dirty.push(inst);
    else if (this.#compactable) this.#owed++;
    else return;
    if (!this.#resetScheduled) {
      this.#resetScheduled = true;
      setImmediate(() => {
        this.#resetScheduled = false;
        const now = performance.now();
        while (this.#dirty.length > 0) this.#park(this.#resetOne()!, now);
        for (; this.#owed > 0; this.#owed--) {
          const lean = this.#leanInstance();
          if (lean) this.#park(lean, now);
        }
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
    if (this.#idleTimer === undefined) this.#armIdleTimer(this.#nextIdleWork());
    else if (this.#compactable && !this.#lean.has(inst)) this.#armIdleTimer(now + COMPACT_MS);
  }

  /**
   * One timer per pool, armed only while there is idle work: an instance to compact, or more idle instances
   * than minWarm, the least recently used of which is dropped once idle for idleMs. A stateful function's
   * instance holds its state, so it is never dropped for idleness (nor compacted).
   */
  #armIdleTimer(at: number): void {
    if (!(at < this.#idleTimerAt) || !(at - performance.now() <= MAX_TIMER_MS)) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimerAt = at;
    this.#idleTimer = setTimeout(() => this.#onIdleTimer(), Math.max(0, at - performance.now()));
    this.#idleTimer.unref();
  }

  /** When the next idle instance is due for compaction or trimming (Infinity: none is). */
  #nextIdleWork(): number {
    let at = Infinity;
    if (!this.def.stateful && this.#idle.length > this.def.minWarm) at = this.#idleSince[0]! + this.def.idleMs;
    if (this.#compactable) {
      for (let i = 0; i < this.#idle.length; i++) {
        if (!this.#lean.has(this.#idle[i]!)) {
          at = Math.min(at, this.#idleSince[i]! + COMPACT_MS);
          break;
        }
      }
    }
    return at;
  }

  #onIdleTimer(): void {
    this.#idleTimer = undefined;
    this.#idleTimerAt = Infinity;
    const cutoff = performance.now() - this.def.idleMs;
    let expired = 0;
    while (expired < this.#idleSince.length && this.#idleSince[expired]! <= cutoff) expired++;
    const drop = this.def.stateful ? 0 : Math.min(expired, this.#idle.length - this.def.minWarm);
    if (drop > 0) {
      for (const inst of this.#idle.splice(0, drop)) this.discard(inst);
      this.#idleSince.splice(0, drop);
    }
    this.compact(COMPACT_MS);
    this.#armIdleTimer(this.#nextIdleWork());
  }

  #resetOne(): FunctionInstance | undefined {
    const inst = this.#dirty.pop();
    inst?.restore(this.def.snapshot!);
    return inst;
  }
}

/** setTimeout's longest delay; a longer idleMs (Infinity included) means never. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long an idle instance keeps its memory resident. Calls that come back sooner find it zeroed and in
 * place (no page faults); later ones fault in the pages they touch, as a fresh instance's first call does,
 * while the pool holds a few KiB per idle instance instead of its whole memory.
 */
export const COMPACT_MS = 1000;
/** Below this much memory past the snapshot, compaction saves less than the instantiation it costs. */
export const COMPACT_MIN_BYTES = 1024 * 1024;

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

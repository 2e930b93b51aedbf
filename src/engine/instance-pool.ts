/**
 * Warm instances of one function version on one thread. An instance is reset to the snapshot right after
 * each invocation, so the next one starts clean and fast; a stateful function keeps one instance (an actor)
 * that is never reset.
 */
import { Payload } from '../data/payload.ts';
import { PlumeError } from '../errors.ts';
import type { GuestServices, Hop, HostInterface } from '../host/interface.ts';
import type { FunctionDefinition } from './definition.ts';
import { FunctionInstance, newCall, type InvocationResult, type LogSink } from './instance.ts';
import type { MemoryPool, MemoryShape } from './memory-pool.ts';

export class InstancePool {
  readonly def: FunctionDefinition;
  readonly #hosts: readonly HostInterface[];
  readonly #memories: MemoryPool;
  readonly #logSink: LogSink;
  readonly #idle: FunctionInstance[] = [];
  /** Used instances waiting for their reset, which runs after the result has gone out (see #release). */
  readonly #dirty: FunctionInstance[] = [];
  #resetScheduled = false;
  readonly #shape: MemoryShape;
  readonly #services: GuestServices;
  /** Instances created over this pool's life (cold starts on this thread). */
  created = 0;
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
      this.#idle.push(inst);
    }
  }

  /** Drop idle instances beyond `keep` (scale down; the snapshot stays, so the next call restores fast). */
  trim(keep = 0): void {
    while (this.#dirty.length > 0) this.#idle.push(this.#resetOne()!);
    while (this.#idle.length > keep) this.discard(this.#idle.pop()!);
  }

  /** `root`: the executor's id of the outermost invocation (for the watchdog), inherited by chained calls. */
  invoke(input: Payload, root = 0, trace?: Hop[]): InvocationResult | Promise<InvocationResult> {
    const inst = this.#idle.pop() ?? this.#resetOne() ?? this.create();
    const call = newCall(input, this.def.limits.maxOutputBytes, root, trace);
    this.busy++;
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
   * watchdog replaces its worker instead.
   */
  async #awaitWithTimeout(inst: FunctionInstance, pending: Promise<InvocationResult>): Promise<InvocationResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(this.def)), this.def.limits.timeoutMs);
    });
    try {
      const result = await Promise.race([pending, timeout]);
      this.#release(inst, false);
      return result;
    } catch (err) {
      if (err instanceof PlumeError && err.code === 'PLUME_ETIMEOUT') this.busy--;
      else this.#release(inst, true);
      throw err;
    } finally {
      clearTimeout(timer);
    }
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
      this.#idle.push(inst);
      return;
    }
    // A memory that grew cannot shrink back; such an instance is dropped and a fresh one made on demand.
    if (!inst.reusable(snapshot)) return;
    this.#dirty.push(inst);
    if (!this.#resetScheduled) {
      this.#resetScheduled = true;
      setImmediate(() => {
        this.#resetScheduled = false;
        while (this.#dirty.length > 0) this.#idle.push(this.#resetOne()!);
      });
    }
  }

  #resetOne(): FunctionInstance | undefined {
    const inst = this.#dirty.pop();
    inst?.restore(this.def.snapshot!);
    return inst;
  }
}

export function timeoutError(def: FunctionDefinition): PlumeError {
  return new PlumeError('PLUME_ETIMEOUT', `function '${def.name}' timed out after ${def.limits.timeoutMs} ms`, {
    function: def.name,
  });
}

export function inputError(def: FunctionDefinition, bytes: number): PlumeError {
  return new PlumeError('PLUME_EINPUT', `the input of '${def.name}' is ${bytes} bytes, over its limit of ${def.limits.maxInputBytes}`, {
    function: def.name,
  });
}

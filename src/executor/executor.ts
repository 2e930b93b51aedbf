/**
 * The main-thread side of the worker pool (a facade over its parts): it places invocations on workers
 * (src/scheduler/placement.ts), enforces per-function concurrency, and re-runs the calls a replaced worker
 * had not started. Its parts: worker-slot.ts (one worker thread and its rings), watchdog.ts (timeouts,
 * runaway calls, spares), settlement.ts (results and run times), control.ts (requests and replies).
 */
import { availableParallelism } from 'node:os';
import { PlumeError, type SerializedError } from '../errors.ts';
import { concurrencyOf, type FunctionDefinition, type Snapshot } from '../engine/definition.ts';
import type { Hop, LogLevel } from '../engine/host-interface.ts';
import { inputError } from '../engine/instance-pool.ts';
import type { ModelMeta } from '../inference/tensor.ts';
import { checkNear, overdueAfterMs, type Placement } from '../scheduler/placement.ts';
import { ControlChannel } from './control.ts';
import { DEFAULT_RING_BYTES, RecordType } from './layout.ts';
import type { ExecutorOptions, InvokeOptions, PoolStats } from './options.ts';
import { ModelRegistry } from './model-registry.ts';
import { Placer } from './placer.ts';
import { handOver, wholeBuffer, type FromWorker, type ToWorker, type WorkerInit, type WorkerPoolStats } from './protocol.ts';
import { RunTimes, settle, type InvocationResult } from './settlement.ts';
import { WATCHDOG_GRACE_MS, Watchdog } from './watchdog.ts';
import { WorkerSlot, type Pending } from './worker-slot.ts';

export type { InvocationResult } from './settlement.ts';
export type { ExecutorOptions, InvokeOptions, PoolStats } from './options.ts';

/** How long stats() waits for a worker's counts (a scrape must not hang on a busy worker). */
const STATS_WAIT_MS = 250;
const REGISTER_WAIT_MS = 2000;
const QUIESCE_WAIT_MS = 10_000;
const decoder = new TextDecoder();

type WorkerBoot = Omit<WorkerInit, 'requests' | 'results' | 'started'>;

export class Executor {
  /** The regular workers first (indices 0 … workers − 1), then spares (docs/scheduler.md, Runaway calls). */
  readonly #slots: WorkerSlot[] = [];
  readonly #base: number;
  readonly #maxSpares: number;
  readonly #placer: Placer;
  readonly #defs = new Map<number, FunctionDefinition>();
  readonly #runTimes = new RunTimes();
  readonly #running = new Map<number, number>();
  readonly #queued = new Map<number, (() => void)[]>();
  /** Models registered for wasi-nn, by name: every worker has them, a replacement worker too. */
  readonly #models = new ModelRegistry(
    () => this.#live(),
    (slot, make, timeoutMs, timedOut) => this.#control.ask(slot, make, timeoutMs, timedOut),
  );
  /** Functions other nodes serve (name → input limit): every worker knows them, a replacement worker too. */
  #remoteFunctions: readonly (readonly [string, number])[] = [];
  /**
   * ONNX Runtime intra-op threads per worker: the cores shared out among the workers, at least one. With one
   * worker per core (the default) every session is single-threaded, which the facts table measured fastest
   * when several sessions run at once.
   */
  readonly #inferenceThreads: number;
  readonly #options: ExecutorOptions;
  readonly #control = new ControlChannel(
    () => this.#hold(),
    () => this.#unhold(),
  );
  readonly #watchdog: Watchdog;
  #nextCall = 1;
  #closed = false;
  /** Outstanding work (calls, control requests): workers keep the process alive only while it is > 0. */
  #outstanding = 0;

  constructor(options: ExecutorOptions = {}) {
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`workers must be a positive integer, got ${String(count)}`);
    this.#options = options;
    const mb = options.workerMemoryMb ?? Infinity;
    if (!(mb > 0)) throw new RangeError(`workerMemoryMb must be a positive number of MiB, got ${String(options.workerMemoryMb)}`);
    this.#placer = new Placer(mb * 1024 * 1024, this.#runTimes);
    this.#inferenceThreads = Math.max(1, Math.floor(availableParallelism() / count));
    this.#base = count;
    this.#maxSpares = count;
    for (let i = 0; i < count; i++) this.#slots.push(this.#newSlot(i, false));
    this.#watchdog = new Watchdog({
      slots: this.#slots,
      overdueAfterMs: (def) => overdueAfterMs(this.#runTimes.meanUs(def.id)),
      timedOut: (slot, callId, call) => this.#timedOut(slot, callId, call),
      recycle: (slot) => this.#replace(slot, new PlumeError('PLUME_EWORKER', `worker ${slot.index} was recycled`)),
      retire: (slot) => void this.#stopWorker(slot),
    });
  }

  /** The regular workers (spares come and go). */
  get workers(): number {
    return this.#base;
  }

  async ready(): Promise<void> {
    this.#hold();
    try {
      await Promise.all(this.#slots.map((s) => s.ready));
    } finally {
      this.#unhold();
    }
  }

  #hold(): void {
    if (this.#outstanding++ === 0) for (const s of this.#slots) s.worker.ref();
  }

  #unhold(): void {
    if (--this.#outstanding === 0) for (const s of this.#slots) s.worker.unref();
  }

  /** Take the snapshot on a worker (a looping init is stoppable there), then register the version everywhere. */
  async register(def: FunctionDefinition): Promise<FunctionDefinition> {
    const slot = this.#slots[0]!;
    const reply = await this.#request(slot, (requestId) => ({ type: 'snapshot', requestId, def }), def.limits.timeoutMs, def);
    if (reply.type !== 'snapshot') throw new Error('unexpected reply');
    if (reply.error) throw PlumeError.from(reply.error);
    const full: FunctionDefinition = { ...def, snapshot: reply.snapshot as Snapshot };
    this.#defs.set(full.id, full);
    // Every worker has the version before deploy returns: a guest's chained call by name to it, arriving
    // through a ring, could otherwise overtake the 'register' message and find nothing (issue 12). A worker
    // stuck in a long synchronous call answers late: after REGISTER_WAIT_MS it is not waited for.
    await Promise.all(
      this.#live().map((s) =>
        this.#control.ask(
          s,
          (requestId) => ({ type: 'register', requestId, def: full }),
          REGISTER_WAIT_MS,
          (requestId) => ({
            type: 'registered',
            requestId,
          }),
        ),
      ),
    );
    return full;
  }

  unregister(id: number): void {
    this.#defs.delete(id);
    this.#runTimes.forget(id);
    this.#placer.forget(id);
    for (const s of this.#live()) s.post({ type: 'unregister', id });
  }

  /** Keep `count` idle instances of a version on every regular worker (or on its home worker if stateful). */
  async prewarm(id: number, count: number, exercise = false): Promise<number> {
    const def = this.#def(id);
    const slots = def.stateful ? [this.#home(def)] : this.#slots.slice(0, this.#base);
    const replies = await Promise.all(
      slots.map((s) => this.#request(s, (requestId) => ({ type: 'prewarm', requestId, id, count, exercise }), 600_000, def)),
    );
    return replies.reduce((n, r) => n + (r.type === 'prewarmed' ? r.idle : 0), 0);
  }

  /** Tell every worker which functions other nodes serve, so that chained calls can name them. */
  setRemoteFunctions(functions: ReadonlyMap<string, number>): void {
    this.#remoteFunctions = [...functions];
    for (const s of this.#live()) s.post({ type: 'remote-functions', functions: this.#remoteFunctions });
  }

  trim(id: number, keep = 0): void {
    for (const s of this.#live()) s.post({ type: 'trim', id, keep });
  }

  /** Register a model on every worker (model-registry.ts); resolves once all have its session. */
  addModel(name: string, bytes: Uint8Array): Promise<ModelMeta> {
    if (this.#closed) return Promise.reject(new PlumeError('PLUME_ECLOSED', 'the runtime is closed'));
    return this.#models.add(name, bytes);
  }

  /** Resolves once every worker has forgotten the model (a call placed after that cannot find it). */
  removeModel(name: string): Promise<void> {
    if (this.#closed) return Promise.reject(new PlumeError('PLUME_ECLOSED', 'the runtime is closed'));
    return this.#models.remove(name);
  }

  /**
   * Instance counts by version id, asked of every worker (one message each; a worker reads it between
   * guest calls), and queue depths from here. A worker stuck in a long synchronous guest would hold the
   * answer up to its timeout: after STATS_WAIT_MS its counts are left out instead.
   */
  async stats(): Promise<Map<number, PoolStats>> {
    const replies = await Promise.all(this.#live().map((slot) => this.#askStats(slot)));
    const all = new Map<number, PoolStats>();
    for (const id of this.#defs.keys()) {
      const mine = replies.flatMap((r) => r.filter((s) => s.id === id));
      const sum = (f: (s: WorkerPoolStats) => number): number => mine.reduce((n, s) => n + f(s), 0);
      all.set(id, {
        instances: { idle: sum((s) => s.idle), busy: sum((s) => s.busy) },
        coldStarts: sum((s) => s.coldStarts),
        invocations: sum((s) => s.invocations),
        instancesReplaced: sum((s) => s.instancesReplaced),
        queueDepth: this.#queued.get(id)?.length ?? 0,
      });
    }
    return all;
  }

  async #askStats(slot: WorkerSlot): Promise<readonly WorkerPoolStats[]> {
    if (this.#closed) return [];
    const reply = await this.#control.ask(
      slot,
      (requestId) => ({ type: 'stats', requestId }),
      STATS_WAIT_MS,
      (requestId) => ({
        type: 'stats',
        requestId,
        stats: [],
      }),
    );
    return reply.type === 'stats' ? reply.stats : [];
  }

  async invoke(id: number, input: Uint8Array, options: InvokeOptions = {}): Promise<InvocationResult> {
    if (this.#closed) throw new PlumeError('PLUME_ECLOSED', 'the runtime is closed');
    const def = this.#def(id);
    if (input.length > def.limits.maxInputBytes) throw inputError(def, input.length);
    // A hint may name a spare (a previous step ran there); one that has retired since is no hint.
    checkNear(options.near, this.#slots.length);
    const limit = concurrencyOf(def);
    const running = this.#running.get(id) ?? 0;
    let queuedMs = 0;
    // A finishing call hands its slot straight to the next queued one (see finally), so a new call can
    // never slip in between and run past the limit.
    if (running >= limit) {
      const since = performance.now();
      await new Promise<void>((go) => this.#queue(id).push(go));
      if (this.#closed) throw new PlumeError('PLUME_ECLOSED', 'the runtime closed before the invocation started');
      queuedMs = performance.now() - since;
    } else this.#running.set(id, running + 1);
    this.#hold();
    try {
      return await new Promise<InvocationResult>((resolve, reject) =>
        this.#dispatch({
          def,
          placement: 'any',
          queuedMs,
          input,
          near: options.near,
          transfer: options.transfer === true,
          resolve,
          reject,
        }),
      );
    } finally {
      this.#unhold();
      const next = this.#queued.get(id)?.shift();
      if (next) next();
      else this.#running.set(id, this.#running.get(id)! - 1);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchdog.stop();
    const closed = new PlumeError('PLUME_ECLOSED', 'the runtime closed before the invocation finished');
    // Calls waiting for a concurrency slot wake up, see the runtime closed, and fail.
    for (const queue of this.#queued.values()) for (const go of queue.splice(0)) go();
    for (const slot of this.#slots) {
      for (const p of slot.pending.values()) p.reject(closed);
      slot.pending.clear();
    }
    // Held until every worker has exited: an unreferenced worker's exit would not keep the process alive,
    // and a caller awaiting close() (the CLI's top-level await) would be left unsettled.
    this.#hold();
    try {
      await Promise.all(this.#live().map((slot) => this.#stopWorker(slot)));
    } finally {
      this.#unhold();
    }
  }

  /** Stop a worker once it creates no model session (terminating one mid-creation aborts the whole process). */
  async #stopWorker(slot: WorkerSlot): Promise<void> {
    const quiesced = this.#control.ask(
      slot,
      (requestId) => ({ type: 'quiesce', requestId }),
      QUIESCE_WAIT_MS,
      (requestId) => ({
        type: 'quiesced',
        requestId,
      }),
    );
    const worker = slot.beginStop();
    await quiesced;
    await worker.terminate();
  }

  /** Place a call (new, or one whose worker was replaced before it started) and hand it to the worker. */
  #dispatch(call: Pending): void {
    const { slot, placement } = this.#place(call.def, call.near);
    const callId = this.#nextCall++ >>> 0 || this.#nextCall++;
    const input = call.input!;
    call.placement = placement;
    if (slot.requests.write(RecordType.invoke, callId, call.def.id, input)) {
      slot.pending.set(callId, call);
      slot.wake();
    } else {
      const sent = handOver(input, call.transfer);
      call.input = sent.keep;
      slot.pending.set(callId, call);
      slot.post({ type: 'invoke', callId, id: call.def.id, input: sent.input }, sent.transfer);
    }
    this.#watchdog.arm();
  }

  /** A stateful function always runs at home; others where the placer says, or on a spare when every worker is stuck. */
  #place(def: FunctionDefinition, near: number | undefined): { slot: WorkerSlot; placement: Placement } {
    const hint = near !== undefined && near < this.#slots.length && !this.#slots[near]!.stopped ? near : undefined;
    if (def.stateful) {
      const slot = this.#home(def);
      return { slot, placement: hint === slot.index ? 'colocated' : 'any' };
    }
    const placed = this.#placer.place(this.#slots, def, hint);
    const spare = placed.wantsSpare ? this.#spare() : undefined;
    if (spare) return { slot: spare, placement: hint === undefined ? 'any' : 'spread' };
    return { slot: this.#slots[placed.worker]!, placement: placed.placement };
  }

  /** Every worker holds more memory than its limit (the runtime then spreads calls to peers that serve them). */
  get memoryFull(): boolean {
    return this.#placer.memoryFull(this.#slots);
  }

  /** Stateful functions live on one regular worker, so their single instance (actor) keeps its state. */
  #home(def: FunctionDefinition): WorkerSlot {
    return this.#slots[def.id % this.#base]!;
  }

  /** A spare worker: a stopped one started again, or a new one, up to as many spares as regular workers. */
  #spare(): WorkerSlot | undefined {
    const stopped = this.#slots.find((s) => s.spare && s.stopped);
    if (stopped) {
      this.#boot(stopped);
      return stopped;
    }
    if (this.#slots.length >= this.#base + this.#maxSpares) return undefined;
    const slot = this.#newSlot(this.#slots.length, true);
    this.#slots.push(slot);
    return slot;
  }

  /** Workers that are running (spares that retired are not). */
  #live(): WorkerSlot[] {
    return this.#slots.filter((s) => !s.stopped);
  }

  #def(id: number): FunctionDefinition {
    const def = this.#defs.get(id);
    if (!def) throw new PlumeError('PLUME_ENOFUNC', `function version ${id} is not deployed`);
    return def;
  }

  #queue(id: number): (() => void)[] {
    let q = this.#queued.get(id);
    if (!q) this.#queued.set(id, (q = []));
    return q;
  }

  #newSlot(index: number, spare: boolean): WorkerSlot {
    const slot = new WorkerSlot(index, spare, this.#options.ringBytes ?? DEFAULT_RING_BYTES, () => this.#bootData(), {
      record: (s, type, id, arg, payload, flags) => this.#onRecord(s, type, id, arg, payload, flags),
      message: (s, msg) => this.#onMessage(s, msg),
      crash: (s, err) => this.#replace(s, new PlumeError('PLUME_EWORKER', `worker ${s.index} crashed: ${err.message}`)),
    });
    if (this.#outstanding === 0) slot.worker.unref();
    return slot;
  }

  #bootData(): WorkerBoot {
    return {
      inferenceThreads: this.#inferenceThreads,
      models: this.#models.list(),
      remoteFunctions: this.#remoteFunctions,
      defs: [...this.#defs.values()],
    };
  }

  /** Start a slot's worker afresh (with every registered version: they travel in its init). */
  #boot(slot: WorkerSlot): void {
    slot.start();
    if (this.#outstanding === 0) slot.worker.unref();
  }

  #onRecord(slot: WorkerSlot, type: number, id: number, arg: number, payload: Uint8Array, flags: number): void {
    if (type === RecordType.ok) this.#finish(slot, id, flags, { output: payload.slice(), exitCode: arg });
    else if (type === RecordType.error) this.#finish(slot, id, flags, undefined, JSON.parse(decoder.decode(payload)) as SerializedError);
    else if (type === RecordType.trace) {
      const p = slot.pending.get(id);
      if (p) p.trace = JSON.parse(decoder.decode(payload)) as Hop[];
    } else if (type === RecordType.log) {
      const [fn = '', message = ''] = decoder.decode(payload).split('\0', 2);
      this.#options.onLog?.(fn, arg as LogLevel, message);
    }
  }

  #finish(
    slot: WorkerSlot,
    callId: number,
    flags: number,
    result: { output: Uint8Array; exitCode: number } | undefined,
    error?: SerializedError,
  ): void {
    const p = slot.pending.get(callId);
    if (!p) return;
    slot.pending.delete(callId);
    this.#runTimes.learn(p.def.id, flags);
    // A call that ran into its memory limit is a memory bomb until shown otherwise: like a timeout, its
    // function's calls then run on one worker (docs/scheduler.md, Runaway calls).
    if (error?.code === 'PLUME_EMEMORY') this.#placer.suspect(p.def.id, slot.index);
    settle(p, slot.index, flags, result, error);
  }

  #onMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.type) {
      case 'log':
        this.#options.onLog?.(msg.fn, msg.level as LogLevel, msg.message);
        break;
      case 'state': {
        const state = this.#options.state;
        const work = state
          ? state.handle(msg.op, msg.args)
          : Promise.reject(new PlumeError('PLUME_EINPUT', 'this runtime has no state service'));
        this.#control.answer(slot, msg.requestId, work);
        break;
      }
      case 'remote-call':
        this.#answerRemote(slot, msg.requestId, msg.name, msg.input);
        break;
      case 'result': {
        const p = slot.pending.get(msg.callId);
        if (p && msg.trace) p.trace = msg.trace;
        this.#finish(slot, msg.callId, msg.flags, msg.output ? { output: msg.output, exitCode: msg.exitCode ?? 0 } : undefined, msg.error);
        break;
      }
      case 'snapshot':
      case 'prewarmed':
      case 'registered':
      case 'quiesced':
      case 'stats':
      case 'model-done':
        this.#control.reply(msg);
        break;
    }
  }

  #answerRemote(slot: WorkerSlot, requestId: number, name: string, input: Uint8Array): void {
    const remote = this.#options.remote;
    const pending = remote
      ? remote(name, input)
      : Promise.reject(new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name }));
    // The transport's answer is this call's alone: transferred when the view covers its buffer.
    this.#control.answer(slot, requestId, pending, ({ output }) => {
      const whole = wholeBuffer(output);
      return whole ? [whole] : [];
    });
  }

  /** A control request with a reply; if the worker does not answer in time it is replaced (a looping init). */
  #request(slot: WorkerSlot, make: (requestId: number) => ToWorker, timeoutMs: number, def: FunctionDefinition): Promise<FromWorker> {
    return this.#control.ask(slot, make, timeoutMs + WATCHDOG_GRACE_MS, () => {
      this.#replace(slot, new PlumeError('PLUME_EWORKER', `worker ${slot.index} was replaced after '${def.name}' hung in init`));
      return new PlumeError('PLUME_ETIMEOUT', `function '${def.name}' did not finish init within ${timeoutMs} ms`, { function: def.name });
    });
  }

  /** A call ran past its timeout: it fails, its function comes under suspicion, and its worker is replaced. */
  #timedOut(slot: WorkerSlot, callId: number, call: Pending): void {
    const name = call.def.name;
    slot.pending.delete(callId);
    call.reject(new PlumeError('PLUME_ETIMEOUT', `function '${name}' timed out after ${call.def.limits.timeoutMs} ms`, { function: name }));
    this.#placer.suspect(call.def.id, slot.index);
    this.#replace(
      slot,
      new PlumeError('PLUME_EWORKER', `invocation aborted: its worker was replaced after function '${name}' ran past its timeout`),
    );
  }

  /**
   * Terminate a worker and start a fresh one (with every registered version). Of the calls it held, those that
   * had started fail with `reason`; the others run again, placed anew (on another worker when there is one).
   */
  #replace(slot: WorkerSlot, reason: PlumeError): void {
    if (this.#closed) return;
    const held = slot.restart();
    if (this.#outstanding === 0) slot.worker.unref();
    for (const { call, started } of held) {
      if (started || call.input === undefined) call.reject(reason);
      else this.#dispatch(call);
    }
  }
}

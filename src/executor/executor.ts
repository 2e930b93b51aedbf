/**
 * The main-thread side of the worker pool: places invocations on workers, collects results, enforces
 * per-function concurrency, and replaces a worker whose guest runs past its timeout.
 */
import { availableParallelism } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import { PlumeError, type SerializedError } from '../errors.ts';
import { concurrencyOf, type FunctionDefinition, type Snapshot } from '../engine/definition.ts';
import type { Hop, LogLevel } from '../engine/host-interface.ts';
import type { StateOp, StateOps, StateService } from '../state/service.ts';
import type { ModelMeta } from '../inference/tensor.ts';
import { DEFAULT_RING_BYTES, RecordFlag, RecordType, RUN_US_SHIFT, RUNNING_CALL, RUNNING_SINCE_F64, WORKER_MEMORY_F64 } from './layout.ts';
import { wholeBuffer, type FromWorker, type RemoteHop, type ToWorker, type WorkerInit, type WorkerPoolStats } from './protocol.ts';
import { Ring } from './ring.ts';
import { inputError } from '../engine/instance-pool.ts';
import { events } from '../events.ts';
import { checkNear, placeCall, TINY_CALL_US, type Placement } from '../scheduler/placement.ts';

/** What an invocation gives its caller on the main thread: the output in one piece. */
export interface InvocationResult {
  readonly output: Uint8Array;
  /** Set for WASI commands: the code given to `proc_exit`, 0 when `_start` returned. */
  readonly exitCode?: number;
  /** Every hop between functions this invocation made (chained calls), with its mode and bytes. */
  readonly trace?: readonly Hop[];
  /** Index of the worker that ran it. */
  readonly worker: number;
  /** Where it ran relative to the `near` hint (docs/scheduler.md). */
  readonly placement: Placement;
  /** Time spent waiting before it ran: for a concurrency slot, and for its batch to form. */
  readonly queuedMs: number;
  /** Inputs in the invocation that ran it: 1 unbatched, N for a batch of N (docs/scheduler.md). */
  readonly batchSize: number;
  /** True when no warm instance was idle, so the call created one (from the snapshot). */
  readonly cold: boolean;
  /** Set when another node ran it (placement 'remote', worker -1): which node, and the transport's hop. */
  readonly remote?: RemoteHop;
}

/** Per-call hints for the scheduler. */
export interface InvokeOptions {
  /** Prefer this worker (the one that ran the previous step): same thread is the cheapest edge. */
  readonly near?: number;
  /**
   * The caller gives up `input`: it is handed to the worker without a copy (a SharedArrayBuffer is
   * shared, an ArrayBuffer the view covers whole is transferred and detached here). The caller must not
   * touch a shared one until the call settles. Default false: the input is copied when it goes to a worker.
   */
  readonly transfer?: boolean;
}

/** A function version's instances on all workers, and what waits for them. */
export interface PoolStats {
  readonly instances: { readonly idle: number; readonly busy: number };
  /** Calls that had to create an instance (no idle one). */
  readonly coldStarts: number;
  /** Calls the instances ran (a batch counts once; chained calls count too). */
  readonly invocations: number;
  /** Calls waiting for a concurrency slot. */
  readonly queueDepth: number;
}

export interface ExecutorOptions {
  /** Worker threads; default one per core. */
  readonly workers?: number;
  /** Bytes of each ring (power of two); default 4 MiB. */
  readonly ringBytes?: number;
  readonly onLog?: (fn: string, level: LogLevel, message: string) => void;
  /** Answers the guests' state operations (the runtime always passes one). */
  readonly state?: StateService;
  /**
   * Memory a worker may hold (its instances' Wasm memories and its buffers) before placement stops giving it
   * calls while another worker has room, in MiB; default no limit (docs/scheduler.md, Memory).
   */
  readonly workerMemoryMb?: number;
  /** Runs a chained call to a function another node serves (the runtime passes its peer links). */
  readonly remote?: (name: string, input: Uint8Array) => Promise<{ output: Uint8Array; hop: RemoteHop }>;
}

/** How long past its timeout a guest may run before its worker is replaced (the issue allows 100 ms). */
const WATCHDOG_GRACE_MS = 40;
const WATCHDOG_TICK_MS = 20;
/** How long stats() waits for a worker's counts (a scrape must not hang on a busy worker). */
const STATS_WAIT_MS = 250;
/** Weight of the newest call in a version's mean run time: about the last 10 calls count. */
const RUN_EWMA = 0.1;
const MODEL_WAIT_MS = 60_000;
const WORKER_URL = new URL('./worker.ts', import.meta.url);
const decoder = new TextDecoder();

interface Pending {
  readonly def: FunctionDefinition;
  readonly placement: Placement;
  readonly queuedMs: number;
  trace?: Hop[];
  readonly resolve: (r: InvocationResult) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  requests: Ring;
  results: Ring;
  since: Float64Array;
  readonly pending: Map<number, Pending>;
  ready: Promise<void>;
  /** A wake-up of this worker is queued for the end of this event-loop phase (see #wake). */
  waking: boolean;
}

export class Executor {
  readonly #slots: Slot[] = [];
  /** Calls in flight per worker, for placement (one array, refilled per call). */
  readonly #loads: number[] = [];
  /** Workers over their memory limit, for placement (refilled per call, like #loads). */
  readonly #full: boolean[] = [];
  readonly #memoryLimit: number;
  readonly #defs = new Map<number, FunctionDefinition>();
  /** Mean run time on a worker per version, µs (exponentially weighted; absent until a call finished). */
  readonly #runUs = new Map<number, number>();
  readonly #running = new Map<number, number>();
  readonly #queued = new Map<number, (() => void)[]>();
  readonly #requests = new Map<number, (msg: FromWorker) => void>();
  /** Models registered for wasi-nn, by name: every worker has them, a replacement worker too. */
  readonly #models = new Map<string, Uint8Array>();
  /** Functions other nodes serve (name → input limit): every worker knows them, a replacement worker too. */
  #remoteFunctions: readonly (readonly [string, number])[] = [];
  /**
   * ONNX Runtime intra-op threads per worker: the cores shared out among the workers, at least one. With one
   * worker per core (the default) every session is single-threaded, which the facts table measured fastest
   * when several sessions run at once.
   */
  readonly #inferenceThreads: number;
  readonly #options: ExecutorOptions;
  #nextCall = 1;
  #nextRequest = 1;
  #watchdog: NodeJS.Timeout | undefined;
  #closed = false;
  /** Outstanding work (calls, control requests): workers keep the process alive only while it is > 0. */
  #outstanding = 0;

  constructor(options: ExecutorOptions = {}) {
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`workers must be a positive integer, got ${String(count)}`);
    this.#options = options;
    const mb = options.workerMemoryMb ?? Infinity;
    if (!(mb > 0)) throw new RangeError(`workerMemoryMb must be a positive number of MiB, got ${String(options.workerMemoryMb)}`);
    this.#memoryLimit = mb * 1024 * 1024;
    this.#inferenceThreads = Math.max(1, Math.floor(availableParallelism() / count));
    for (let i = 0; i < count; i++) this.#slots.push(this.#spawn(i));
  }

  get workers(): number {
    return this.#slots.length;
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
    for (const s of this.#slots) this.#post(s, { type: 'register', def: full });
    return full;
  }

  unregister(id: number): void {
    this.#defs.delete(id);
    this.#runUs.delete(id);
    for (const s of this.#slots) this.#post(s, { type: 'unregister', id });
  }

  /** Keep `count` idle instances of a version on every worker (or on its home worker if stateful). */
  async prewarm(id: number, count: number, exercise = false): Promise<number> {
    const def = this.#def(id);
    const slots = def.stateful ? [this.#home(def)] : this.#slots;
    const replies = await Promise.all(
      slots.map((s) => this.#request(s, (requestId) => ({ type: 'prewarm', requestId, id, count, exercise }), 600_000, def)),
    );
    return replies.reduce((n, r) => n + (r.type === 'prewarmed' ? r.idle : 0), 0);
  }

  /** Tell every worker which functions other nodes serve, so that chained calls can name them. */
  setRemoteFunctions(functions: ReadonlyMap<string, number>): void {
    this.#remoteFunctions = [...functions];
    for (const s of this.#slots) this.#post(s, { type: 'remote-functions', functions: this.#remoteFunctions });
  }

  trim(id: number, keep = 0): void {
    for (const s of this.#slots) this.#post(s, { type: 'trim', id, keep });
  }

  /**
   * Register a model on every worker, each creating its session; resolves once all have (so a call placed
   * right after finds it anywhere). If a worker cannot load it, every worker goes back to the model the name
   * had before (or to no model), and this rejects with ONNX Runtime's message.
   */
  async addModel(name: string, bytes: Uint8Array): Promise<ModelMeta> {
    const add = (model: Uint8Array): Promise<{ meta?: ModelMeta; error?: string }[]> =>
      Promise.all(this.#slots.map((slot) => this.#askModel(slot, (requestId) => ({ type: 'model-add', requestId, name, bytes: model }))));
    const replies = await add(bytes);
    const failed = replies.find((r) => r.error !== undefined);
    if (failed) {
      // Leave every worker as it was: with the model this name had before, or without the name.
      const previous = this.#models.get(name);
      await (previous ? add(previous) : this.removeModel(name));
      throw new PlumeError('PLUME_EMODEL', `model '${name}' cannot be loaded: ${failed.error}`, { model: name });
    }
    this.#models.set(name, bytes);
    return replies[0]!.meta!;
  }

  /** Resolves once every worker has forgotten the model (a call placed after that cannot find it). */
  async removeModel(name: string): Promise<void> {
    this.#models.delete(name);
    await Promise.all(this.#slots.map((slot) => this.#askModel(slot, (requestId) => ({ type: 'model-remove', requestId, name }))));
  }

  async #askModel(slot: Slot, make: (requestId: number) => ToWorker): Promise<{ meta?: ModelMeta; error?: string }> {
    if (this.#closed) throw new PlumeError('PLUME_ECLOSED', 'the runtime is closed');
    // A worker replaced meanwhile never answers; creating a session takes a second at most.
    const reply = await this.#ask(slot, make, MODEL_WAIT_MS, (requestId) => ({
      type: 'model-done',
      requestId,
      error: `worker ${slot.index} did not answer within ${MODEL_WAIT_MS} ms`,
    }));
    return reply.type === 'model-done' ? reply : { error: 'unexpected reply' };
  }

  /**
   * Instance counts by version id, asked of every worker (one message each; a worker reads it between
   * guest calls), and queue depths from here. A worker stuck in a long synchronous guest would hold the
   * answer up to its timeout: after STATS_WAIT_MS its counts are left out instead.
   */
  async stats(): Promise<Map<number, PoolStats>> {
    const replies = await Promise.all(this.#slots.map((slot) => this.#askStats(slot)));
    const all = new Map<number, PoolStats>();
    for (const id of this.#defs.keys()) {
      const mine = replies.flatMap((r) => r.filter((s) => s.id === id));
      const sum = (f: (s: WorkerPoolStats) => number): number => mine.reduce((n, s) => n + f(s), 0);
      all.set(id, {
        instances: { idle: sum((s) => s.idle), busy: sum((s) => s.busy) },
        coldStarts: sum((s) => s.coldStarts),
        invocations: sum((s) => s.invocations),
        queueDepth: this.#queued.get(id)?.length ?? 0,
      });
    }
    return all;
  }

  async #askStats(slot: Slot): Promise<readonly WorkerPoolStats[]> {
    if (this.#closed) return [];
    const reply = await this.#ask(
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
      return await this.#dispatch(def, input, options.near, queuedMs, options.transfer === true);
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
    clearInterval(this.#watchdog);
    const closed = new PlumeError('PLUME_ECLOSED', 'the runtime closed before the invocation finished');
    // Calls waiting for a concurrency slot wake up, see the runtime closed, and fail.
    for (const queue of this.#queued.values()) for (const go of queue.splice(0)) go();
    for (const slot of this.#slots) {
      for (const p of slot.pending.values()) p.reject(closed);
      slot.pending.clear();
      slot.results.interrupt();
      await slot.worker.terminate();
    }
  }

  #dispatch(
    def: FunctionDefinition,
    input: Uint8Array,
    near: number | undefined,
    queuedMs: number,
    transfer: boolean,
  ): Promise<InvocationResult> {
    const { slot, placement } = this.#place(def, near);
    const callId = this.#nextCall++ >>> 0 || this.#nextCall++;
    return new Promise<InvocationResult>((resolve, reject) => {
      slot.pending.set(callId, { def, placement, queuedMs, resolve, reject });
      if (slot.requests.write(RecordType.invoke, callId, def.id, input)) this.#wake(slot);
      else {
        const sent = handOver(input, transfer);
        this.#post(slot, { type: 'invoke', callId, id: def.id, input: sent.input }, sent.transfer);
      }
      this.#armWatchdog();
    });
  }

  /**
   * A call alone on its worker wakes it at once. One that joins others in flight there wakes it at the end
   * of this event-loop phase, together with every call written meanwhile: under load (a gateway with many
   * clients) that cut the worker's wake-ups from 0.57 to about 0.4 per call (docs/scheduler.md, Tiny
   * calls). No call is missed: a worker going to sleep re-checks its ring after announcing it (Ring#wait,
   * Ring#block).
   */
  #wake(slot: Slot): void {
    if (slot.pending.size <= 1) slot.requests.wake();
    else if (!slot.waking) {
      slot.waking = true;
      setImmediate(() => {
        slot.waking = false;
        slot.requests.wake();
      });
    }
  }

  /** A worker by load and affinity (src/scheduler/placement.ts); a stateful function always runs at home. */
  #place(def: FunctionDefinition, near: number | undefined): { slot: Slot; placement: Placement } {
    if (def.stateful) {
      const slot = this.#home(def);
      return { slot, placement: near === slot.index ? 'colocated' : 'any' };
    }
    // Refilled in place: this runs for every invocation.
    for (let i = 0; i < this.#slots.length; i++) this.#loads[i] = this.#slots[i]!.pending.size;
    const limited = this.#memoryLimit !== Infinity;
    if (limited) for (let i = 0; i < this.#slots.length; i++) this.#full[i] = this.#slots[i]!.since[WORKER_MEMORY_F64]! > this.#memoryLimit;
    const tiny = (this.#runUs.get(def.id) ?? Infinity) < TINY_CALL_US;
    const { worker, placement } = placeCall(this.#loads, near, { tiny, full: limited ? this.#full : undefined });
    return { slot: this.#slots[worker]!, placement };
  }

  /** Every worker holds more memory than its limit (the runtime then spreads calls to peers that serve them). */
  get memoryFull(): boolean {
    return this.#memoryLimit !== Infinity && this.#slots.every((s) => s.since[WORKER_MEMORY_F64]! > this.#memoryLimit);
  }

  /** Stateful functions live on one worker, so their single instance (actor) keeps its state. */
  #home(def: FunctionDefinition): Slot {
    return this.#slots[def.id % this.#slots.length]!;
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

  #spawn(index: number): Slot {
    const slot = { index, pending: new Map(), waking: false } as unknown as Slot;
    this.#start(slot);
    return slot;
  }

  /** (Re)start the worker of a slot with fresh rings; messages from a replaced worker are ignored. */
  #start(slot: Slot): void {
    const bytes = this.#options.ringBytes ?? DEFAULT_RING_BYTES;
    const requests = Ring.create(bytes);
    const results = Ring.create(bytes);
    const init: WorkerInit = {
      requests: requests.buffer,
      results: results.buffer,
      inferenceThreads: this.#inferenceThreads,
      models: [...this.#models].map(([name, bytes]) => ({ name, bytes })),
      remoteFunctions: this.#remoteFunctions,
    };
    const worker = new Worker(WORKER_URL, { workerData: init });
    let markReady: () => void = () => {};
    slot.ready = new Promise<void>((r) => (markReady = r));
    Object.assign(slot, { worker, requests, results, since: new Float64Array(requests.buffer, 0, 32) });
    worker.on('message', (msg: FromWorker) => {
      if (slot.worker !== worker) return;
      if (msg.type === 'ready') markReady();
      else this.#onMessage(slot, msg);
    });
    worker.on('error', (err) => {
      if (slot.worker === worker) this.#replace(slot, new PlumeError('PLUME_EWORKER', `worker ${slot.index} crashed: ${err.message}`));
    });
    if (this.#outstanding === 0) worker.unref();
    void this.#collect(slot, results);
  }

  /** Drain a worker's result ring until the worker is replaced or the executor closes. */
  async #collect(slot: Slot, results: Ring): Promise<void> {
    while (!this.#closed && slot.results === results) {
      results.drain((type, id, arg, payload, flags) => {
        if (type === RecordType.ok) this.#settle(slot, id, flags, { output: payload.slice(), exitCode: arg });
        else if (type === RecordType.error)
          this.#settle(slot, id, flags, undefined, JSON.parse(decoder.decode(payload)) as SerializedError);
        else if (type === RecordType.trace) {
          const p = slot.pending.get(id);
          if (p) p.trace = JSON.parse(decoder.decode(payload)) as Hop[];
        } else if (type === RecordType.log) {
          const [fn = '', message = ''] = decoder.decode(payload).split('\0', 2);
          this.#options.onLog?.(fn, arg as LogLevel, message);
        }
      });
      await results.wait();
    }
  }

  #settle(
    slot: Slot,
    callId: number,
    flags: number,
    result: { output: Uint8Array; exitCode: number } | undefined,
    error?: SerializedError,
  ): void {
    const p = slot.pending.get(callId);
    if (!p) return;
    slot.pending.delete(callId);
    // A cold start's run time is mostly making the instance: only warm calls say how long the function runs.
    if ((flags & RecordFlag.cold) === 0) {
      const ran = flags >>> RUN_US_SHIFT;
      const mean = this.#runUs.get(p.def.id);
      this.#runUs.set(p.def.id, mean === undefined ? ran : mean + RUN_EWMA * (ran - mean));
    }
    if (p.trace && events.transfer.hasSubscribers) {
      for (const hop of p.trace) events.transfer.publish({ mode: hop.mode, bytesMoved: hop.bytesMoved, bytesCopied: hop.bytesCopied });
    }
    if (error) p.reject(PlumeError.from(error));
    else {
      const { output, exitCode } = result!;
      const cold = (flags & RecordFlag.cold) !== 0;
      p.resolve({
        output,
        ...(p.def.kind === 'command' ? { exitCode } : {}),
        ...(p.trace ? { trace: p.trace } : {}),
        worker: slot.index,
        placement: p.placement,
        queuedMs: p.queuedMs,
        batchSize: 1,
        cold,
      });
    }
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'log':
        this.#options.onLog?.(msg.fn, msg.level as LogLevel, msg.message);
        break;
      case 'state':
        this.#answerState(slot, msg.requestId, msg.op, msg.args);
        break;
      case 'remote-call':
        this.#answerRemote(slot, msg.requestId, msg.name, msg.input);
        break;
      case 'trace': {
        const p = slot.pending.get(msg.callId);
        if (p) p.trace = msg.trace;
        break;
      }
      case 'result':
        this.#settle(slot, msg.callId, msg.flags, msg.output ? { output: msg.output, exitCode: msg.exitCode ?? 0 } : undefined, msg.error);
        break;
      case 'snapshot':
      case 'prewarmed':
      case 'stats':
      case 'model-done':
        this.#requests.get(msg.requestId)?.(msg);
        break;
    }
  }

  #answerState(slot: Slot, requestId: number, op: StateOp, args: StateOps[StateOp]): void {
    const state = this.#options.state;
    this.#answer(
      slot,
      requestId,
      state ? state.handle(op, args) : Promise.reject(new PlumeError('PLUME_EINPUT', 'this runtime has no state service')),
    );
  }

  #answerRemote(slot: Slot, requestId: number, name: string, input: Uint8Array): void {
    const remote = this.#options.remote;
    const pending = remote
      ? remote(name, input)
      : Promise.reject(new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name }));
    // The transport's answer is this call's alone: transferred when the view covers its buffer.
    this.#answer(slot, requestId, pending, ({ output }) => {
      const whole = wholeBuffer(output);
      return whole ? [whole] : [];
    });
  }

  /** Answers a worker's request (a state operation, a remote call) once `work` settles, unless the worker was replaced meanwhile. */
  #answer<T>(slot: Slot, requestId: number, work: Promise<T>, transfer: (result: T) => Transferable[] = () => []): void {
    const worker = slot.worker;
    this.#hold();
    work
      .then(
        (result) => {
          if (slot.worker === worker) this.#post(slot, { type: 'reply', requestId, result }, transfer(result));
        },
        (err: unknown) => {
          if (slot.worker === worker) this.#post(slot, { type: 'reply', requestId, error: PlumeError.serialize(err, 'PLUME_EFAILED') });
        },
      )
      .finally(() => this.#unhold());
  }

  #post(slot: Slot, msg: ToWorker, transfer: Transferable[] = []): void {
    slot.worker.postMessage(msg, transfer);
    // An idle worker may be blocked in Atomics.wait, where it reads no messages: wake it.
    slot.requests.interrupt();
  }

  /** A control request with a reply; if the worker does not answer in time it is replaced (a looping init). */
  #request(slot: Slot, make: (requestId: number) => ToWorker, timeoutMs: number, def: FunctionDefinition): Promise<FromWorker> {
    return this.#ask(slot, make, timeoutMs + WATCHDOG_GRACE_MS, () => {
      this.#replace(slot, new PlumeError('PLUME_EWORKER', `worker ${slot.index} was replaced after '${def.name}' hung in init`));
      return new PlumeError('PLUME_ETIMEOUT', `function '${def.name}' did not finish init within ${timeoutMs} ms`, { function: def.name });
    });
  }

  /**
   * Post a request and resolve with the worker's reply; after `timeoutMs` with what `timedOut` gives instead
   * (a stand-in reply, or an error to reject with). The workers stay held (they keep the process alive) meanwhile.
   */
  #ask(
    slot: Slot,
    make: (requestId: number) => ToWorker,
    timeoutMs: number,
    timedOut: (requestId: number) => FromWorker | PlumeError,
  ): Promise<FromWorker> {
    const requestId = this.#nextRequest++;
    this.#hold();
    return new Promise<FromWorker>((resolve, reject) => {
      const settle = (reply: FromWorker | PlumeError): void => {
        clearTimeout(timer);
        this.#requests.delete(requestId);
        this.#unhold();
        if (reply instanceof PlumeError) reject(reply);
        else resolve(reply);
      };
      const timer = setTimeout(() => settle(timedOut(requestId)), timeoutMs);
      timer.unref(); // the held workers keep the process alive meanwhile; after close nothing should
      this.#requests.set(requestId, settle);
      this.#post(slot, make(requestId));
    });
  }

  #armWatchdog(): void {
    if (this.#watchdog) return;
    this.#watchdog = setInterval(() => this.#checkWorkers(), WATCHDOG_TICK_MS);
    this.#watchdog.unref();
  }

  /**
   * A guest in a loop never yields its thread, so only the main thread can stop it: it reads which call
   * the worker runs and since when, and terminates the worker once that call is past timeout + grace.
   */
  #checkWorkers(): void {
    let busy = false;
    const now = performance.now();
    for (const slot of this.#slots) {
      busy ||= slot.pending.size > 0;
      const callId = Atomics.load(slot.requests.control, RUNNING_CALL) >>> 0;
      if (callId === 0) continue;
      const p = slot.pending.get(callId);
      if (!p || now - slot.since[RUNNING_SINCE_F64]! < p.def.limits.timeoutMs + WATCHDOG_GRACE_MS) continue;
      const name = p.def.name;
      slot.pending.delete(callId);
      p.reject(new PlumeError('PLUME_ETIMEOUT', `function '${name}' timed out after ${p.def.limits.timeoutMs} ms`, { function: name }));
      this.#replace(
        slot,
        new PlumeError('PLUME_EWORKER', `invocation aborted: its worker was replaced after function '${name}' ran past its timeout`),
      );
    }
    if (!busy) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  /** Terminate a worker, fail what it held, and start a fresh one with every registered version. */
  #replace(slot: Slot, reason: PlumeError): void {
    if (this.#closed) return;
    const old = slot.worker;
    const oldResults = slot.results;
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    void old.terminate();
    oldResults.interrupt();
    this.#start(slot);
    for (const def of this.#defs.values()) this.#post(slot, { type: 'register', def });
    for (const p of pending) p.reject(reason);
  }
}

/**
 * An input too big for the ring goes by postMessage. A caller that keeps its buffer gets it copied once
 * into one we own, which is transferred (postMessage would otherwise clone it, a second full copy: ~150 ms
 * at 100 MB). A caller that gives it up (`transfer`) pays no copy: a SharedArrayBuffer is shared as it
 * is (a pooled receive buffer, docs/dataplane.md), an ArrayBuffer the view covers whole is transferred.
 */
function handOver(input: Uint8Array, transfer: boolean): { input: Uint8Array; transfer: Transferable[] } {
  if (transfer && input.buffer instanceof SharedArrayBuffer) return { input, transfer: [] };
  const whole = transfer ? wholeBuffer(input) : undefined;
  if (whole) return { input, transfer: [whole] };
  const owned = input.slice();
  return { input: owned, transfer: [owned.buffer] };
}

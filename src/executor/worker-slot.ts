/**
 * One worker thread of the executor and what it holds: its rings, the calls in flight on it, the table of
 * those that started, its thread id and priority. A slot outlives its worker: when the watchdog replaces a
 * worker, the slot starts a fresh one with fresh rings, and whatever the old one sends afterwards is ignored.
 */
import { setPriority } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import type { FunctionDefinition } from '../engine/definition.ts';
import type { Hop } from '../engine/host-interface.ts';
import type { Placement } from '../scheduler/placement.ts';
import { hasStarted, RUNNING_CALL, RUNNING_SINCE_F64, STARTED_SLOTS, WORKER_MEMORY_F64, type RecordType } from './layout.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';
import type { InvocationResult } from './settlement.ts';
import { Ring } from './ring.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url);
/** Nice value of a thread whose call runs past its function's usual time (docs/scheduler.md, Runaway calls). */
export const DEMOTED_NICE = 19;

/** Whether threads may be demoted: until raising a priority back fails once (no CAP_SYS_NICE). */
const demotion = { allowed: true };

/** A call in flight on a worker. */
export interface Pending {
  readonly def: FunctionDefinition;
  /** Set when the call is placed (again, if its worker was replaced before it started). */
  placement: Placement;
  readonly queuedMs: number;
  /**
   * The input, kept to run the call on another worker if this one is replaced before the call started;
   * undefined when it was transferred away (such a call fails instead).
   */
  input: Uint8Array | undefined;
  readonly near: number | undefined;
  readonly transfer: boolean;
  trace?: Hop[];
  readonly resolve: (r: InvocationResult) => void;
  readonly reject: (e: Error) => void;
}

/** What a slot tells its executor: records and messages from the current worker, and a crash. */
export interface SlotEvents {
  readonly record: (
    slot: WorkerSlot,
    type: (typeof RecordType)[keyof typeof RecordType],
    id: number,
    arg: number,
    payload: Uint8Array,
    flags: number,
  ) => void;
  readonly message: (slot: WorkerSlot, msg: FromWorker) => void;
  readonly crash: (slot: WorkerSlot, err: Error) => void;
}

export class WorkerSlot {
  readonly index: number;
  /** A spare, started while every regular worker was stuck; it retires once idle (docs/scheduler.md). */
  readonly spare: boolean;
  readonly pending = new Map<number, Pending>();
  worker!: Worker;
  requests!: Ring;
  results!: Ring;
  since!: Float64Array;
  started!: Int32Array;
  ready!: Promise<void>;
  isReady = false;
  /** The thread's id (Linux), for priority changes; undefined elsewhere. */
  tid: number | undefined;
  /** Its thread runs at DEMOTED_NICE (a call on it runs long). */
  demoted = false;
  /** Its priority could not be raised again (no CAP_SYS_NICE): it takes no calls and is replaced once idle. */
  retiring = false;
  /** A wake-up of this worker is queued for the end of this event-loop phase (see wake). */
  waking = false;
  /** When it last held a call (performance.now()), for retiring spares. */
  lastBusy = performance.now();
  readonly #events: SlotEvents;
  readonly #init: () => Omit<WorkerInit, 'requests' | 'results' | 'started'>;
  readonly #ringBytes: number;
  #stopped = false;

  constructor(
    index: number,
    spare: boolean,
    ringBytes: number,
    init: () => Omit<WorkerInit, 'requests' | 'results' | 'started'>,
    events: SlotEvents,
  ) {
    this.index = index;
    this.spare = spare;
    this.#ringBytes = ringBytes;
    this.#init = init;
    this.#events = events;
    this.start();
  }

  /** A spare that retired (its worker is stopped until a spare is needed again). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** (Re)start the worker with fresh rings; messages and records from a replaced worker are ignored. */
  start(): void {
    this.#stopped = false;
    this.requests = Ring.create(this.#ringBytes);
    this.results = Ring.create(this.#ringBytes);
    const started = new SharedArrayBuffer(STARTED_SLOTS * 4);
    this.started = new Int32Array(started);
    this.since = new Float64Array(this.requests.buffer, 0, 32);
    this.isReady = false;
    this.tid = undefined;
    this.demoted = false;
    this.retiring = false;
    const init: WorkerInit = { ...this.#init(), requests: this.requests.buffer, results: this.results.buffer, started };
    const worker = new Worker(WORKER_URL, { workerData: init });
    this.worker = worker;
    let markReady: () => void = () => {};
    this.ready = new Promise<void>((r) => (markReady = r));
    worker.on('message', (msg: FromWorker) => {
      if (this.worker !== worker) return;
      if (msg.type === 'ready') {
        this.tid = msg.tid;
        this.isReady = true;
        markReady();
      } else this.#events.message(this, msg);
    });
    worker.on('error', (err) => {
      if (this.worker === worker) this.#events.crash(this, err);
    });
    void this.#collect(this.results);
  }

  /** Drain the result ring until this worker is replaced or stops. */
  async #collect(results: Ring): Promise<void> {
    while (this.results === results && !this.#stopped) {
      this.drainResults();
      await results.wait();
    }
  }

  /** Hand every record on the result ring to the executor now (also what a replacement does first). */
  drainResults(): void {
    this.results.drain((type, id, arg, payload, flags) => this.#events.record(this, type as never, id, arg, payload, flags));
  }

  /** The call this worker runs synchronously right now (0: none), and since when (performance.now() ms). */
  get runningCall(): number {
    return Atomics.load(this.requests.control, RUNNING_CALL) >>> 0;
  }

  get runningSince(): number {
    return this.since[RUNNING_SINCE_F64]!;
  }

  get memoryBytes(): number {
    return this.since[WORKER_MEMORY_F64]!;
  }

  hasStarted(callId: number): boolean {
    return hasStarted(this.started, callId);
  }

  post(msg: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(msg, transfer);
    // An idle worker may be blocked in Atomics.wait, where it reads no messages: wake it.
    this.requests.interrupt();
  }

  /**
   * A call alone on its worker wakes it at once. One that joins others in flight there wakes it at the end
   * of this event-loop phase, together with every call written meanwhile: under load (a gateway with many
   * clients) that cut the worker's wake-ups from 0.57 to about 0.4 per call (docs/scheduler.md, Tiny
   * calls). No call is missed: a worker going to sleep re-checks its ring after announcing it (Ring#wait,
   * Ring#block).
   */
  wake(): void {
    if (this.pending.size <= 1) this.requests.wake();
    else if (!this.waking) {
      this.waking = true;
      setImmediate(() => {
        this.waking = false;
        this.requests.wake();
      });
    }
  }

  /**
   * Lower (or restore) the thread's priority, so that a call that runs long takes the CPU only when no other
   * thread wants it. False if the thread's id is unknown or the system refused (raising a priority again
   * needs CAP_SYS_NICE, which root has).
   */
  setDemoted(demoted: boolean): boolean {
    if (this.tid === undefined || this.demoted === demoted) return this.demoted === demoted;
    if (demoted && !demotion.allowed) return false;
    try {
      setPriority(this.tid, demoted ? DEMOTED_NICE : 0);
      this.demoted = demoted;
      return true;
    } catch {
      // Without the right to raise a priority again, no thread is demoted from now on (this one is recycled).
      if (!demoted) demotion.allowed = false;
      return false;
    }
  }

  /**
   * Take no more calls and stop collecting (placement and the watchdog pass over a stopped slot); returns the
   * worker to terminate once it may be (a spare started again meanwhile has a new one, which this leaves be).
   */
  beginStop(): Worker {
    this.#stopped = true;
    this.results.interrupt();
    return this.worker;
  }

  /** Terminate the worker and start a fresh one; returns the calls the old one held, which the caller settles. */
  restart(): { readonly call: Pending; readonly started: boolean }[] {
    const old = this.worker;
    const oldResults = this.results;
    // Results already written are not lost: they settle their calls before anything else is decided.
    this.drainResults();
    const held = [...this.pending.entries()];
    this.pending.clear();
    void old.terminate();
    oldResults.interrupt();
    const startedTable = this.started;
    this.start();
    return held.map(([callId, call]) => ({ call, started: hasStarted(startedTable, callId) }));
  }
}

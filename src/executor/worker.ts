/**
 * A worker thread: hosts instances of many functions, takes invocations from its request ring (or
 * postMessage) and answers on its result ring. Guests that wait are suspended with JSPI, so while any is,
 * this thread's event loop must not block: it sleeps with Atomics.waitAsync then, Atomics.wait only when idle.
 */
import { readlinkSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData, type Transferable } from 'node:worker_threads';
import { Payload } from '../data/payload.ts';
import { PlumeError } from '../errors.ts';
import type { FunctionDefinition } from '../engine/definition.ts';
import { takeSnapshot } from '../engine/compile.ts';
import { InstancePool, inputError } from '../engine/instance-pool.ts';
import type { FunctionInstance, InvocationResult, LogSink } from '../engine/instance.ts';
import { MemoryPool } from '../engine/memory-pool.ts';
import { hostInterfaces } from '../host/index.ts';
import { models } from '../inference/models.ts';
import type { CallService, GuestServices, Hop, InstanceHandle, StateClient } from '../engine/host-interface.ts';
import { markStarted, RecordFlag, RecordType, RUNNING_CALL, RUNNING_SINCE_F64, runUsFlags, WORKER_MEMORY_F64 } from './layout.ts';
import { wholeBuffer, type FromWorker, type RemoteHop, type ToWorker, type WorkerInit, type WorkerPoolStats } from './protocol.ts';
import { Ring } from './ring.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const requests = new Ring(init.requests);
const results = new Ring(init.results);
const since = new Float64Array(init.requests, 0, 32);
const startedCalls = new Int32Array(init.started);
const pools = new Map<number, InstancePool>();
/** Function name → its newest registered version: what a chained call by name reaches. */
const latest = new Map<string, number>();
/** `id#export` → pool of another export of a function's own module, made on first call. */
const ownExports = new Map<string, InstancePool>();
/** Functions other nodes serve (name → input limit): a chained call to one goes to the main thread's peer links. */
let remoteFunctions = new Map<string, number>(init.remoteFunctions);
const memories = new MemoryPool();
const encoder = new TextEncoder();
// wasi-nn models (docs/wasi-nn.md): the executor validated these when they were added; sessions load now.
models.configure({ threads: init.inferenceThreads });
for (const { name, bytes } of init.models) models.register(name, bytes).catch(() => {});

const post = (msg: FromWorker, transfer: Transferable[] = []): void => port.postMessage(msg, transfer);
const logSink: LogSink = (fn, level, message) => {
  if (results.write(RecordType.log, 0, level, encoder.encode(`${fn}\0${message}`))) results.wake();
  else post({ type: 'log', fn, level, message });
};

/**
 * Calls that arrived (through the ring) before their version's 'register' message (through postMessage):
 * the main thread posts 'register' before it writes any call, but the two channels are not ordered.
 */
const parked = new Map<number, [number, Uint8Array][]>();
/** Calls (outermost or chained) whose guest is suspended (JSPI): while any exist, the event loop must stay free. */
let suspended = 0;

/** Keeps the worker off Atomics.wait until `pending` settles. */
function countSuspended<T>(pending: Promise<T>): Promise<T> {
  suspended++;
  return pending.finally(() => suspended--);
}
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Chained callees on this thread that have their input and have not finished (see calls.start). */
let unfinishedCallees = 0;
/** How long an idle worker blocks before it runs housekeeping anyway. */
const IDLE_BLOCK_MS = 50;
/** How often a busy worker publishes its memory (an idle one does at every IDLE_BLOCK_MS wake-up). */
const PUBLISH_MS = 5;

/**
 * Run a guest's synchronous part under the watchdog: the main thread reads which outermost call runs and
 * since when, and replaces this worker if it runs past that call's timeout (a guest in a loop never yields).
 */
function guarded(pool: InstancePool, input: Payload, root: number, trace?: Hop[]): InvocationResult | Promise<InvocationResult> {
  since[RUNNING_SINCE_F64] = performance.now();
  Atomics.store(requests.control, RUNNING_CALL, root);
  try {
    return pool.invoke(input, root, trace);
  } finally {
    Atomics.store(requests.control, RUNNING_CALL, 0);
  }
}

/**
 * Chained calls run on this thread (the embedded mode): outputs reach the callee by reference. A name this
 * node lacks and a peer serves goes to the main thread's peer links instead (callRemote).
 */
const calls: CallService = {
  inputLimit: (caller, name) => resolve(caller, name)?.def.limits.maxInputBytes ?? remoteLimit(name),
  async start(caller, name, input) {
    const pool = resolve(caller, name);
    const limit = pool?.def.limits.maxInputBytes ?? remoteLimit(name);
    if (limit === undefined) throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name });
    const trace = (caller.call.trace ??= []);
    const from = (caller as unknown as FunctionInstance).def.name;
    let bytes: Payload;
    try {
      // Awaiting also defers the callee, so `call` returns to the guest at once.
      bytes = await input;
    } catch (err) {
      throw new PlumeError('PLUME_EFAILED', `the input of '${name}' failed: ${(err as Error).message}`, { function: name });
    }
    // The callee holds its input (handed over by the caller) until it ends; its caller may end first.
    if (bytes.length > limit) {
      bytes.release();
      throw inputError(pool?.def ?? { name, limits: { maxInputBytes: limit } }, bytes.length);
    }
    if (!pool) return callRemote(from, name, bytes, trace);
    // A callee that finds others started and unfinished on this thread waits for a turn of its own
    // instead of running in the next microtask: a caller waiting on the first output of a fan-in then
    // resumes before the next producer runs, reading each output while it is still in cache, and
    // producers that do not suspend reuse one warm instance instead of N at once. A lone callee (a
    // chain) still starts in a microtask: a turn would queue it behind deferred housekeeping.
    if (unfinishedCallees++ > 0) await yieldTurn();
    const started = performance.now();
    let result: InvocationResult;
    try {
      const pending = guarded(pool, bytes, caller.call.root, trace);
      // A suspended callee needs this thread's event loop even after its caller has returned.
      result = pending instanceof Promise ? await countSuspended(pending) : pending;
    } catch (err) {
      // A callee that timed out may still run on and read its input: leave that one to the collector.
      if ((err as PlumeError).code !== 'PLUME_ETIMEOUT') bytes.release();
      throw err;
    } finally {
      unfinishedCallees--;
    }
    bytes.release();
    const ms = performance.now() - started;
    trace.push({ from, to: pool.def.name, mode: 'embedded', bytesMoved: bytes.length, bytesCopied: result.inputCopied, ms });
    return result.output;
  },
};

/** A function this node lacks and a peer serves (never `#export`, which is always the caller's own module). */
function remoteLimit(name: string): number | undefined {
  return name.startsWith('#') ? undefined : remoteFunctions.get(name);
}

/**
 * A chained call that runs on another node: the input is copied out (one copy, counted in the hop) and
 * posted to the main thread, whose peer link picks the mode by locality; the caller stays suspended meanwhile.
 */
async function callRemote(from: string, name: string, bytes: Payload, trace: Hop[]): Promise<Payload> {
  // Copied in the turn the input settled, before its caller can release it: a buffer the peer link owns.
  const body = new Uint8Array(bytes.length);
  bytes.read(0, body, 0, bytes.length);
  bytes.release();
  const started = performance.now();
  const { output, hop } = await ask<{ output: Uint8Array; hop: RemoteHop }>(
    (requestId) => ({ type: 'remote-call', requestId, name, input: body }),
    [body.buffer],
  );
  // bytesCopied: the copy out of the caller's payload here, and the hop's own copies.
  trace.push({
    from,
    to: name,
    mode: hop.mode,
    bytesMoved: hop.bytesMoved,
    bytesCopied: bytes.length + hop.bytesCopied,
    ms: performance.now() - started,
  });
  return Payload.of(output);
}

/** Requests this worker made of the main thread (state operations, remote calls), answered by 'reply'. */
const asked = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();
let nextRequest = 1;

function ask<T>(make: (requestId: number) => FromWorker, transfer: Transferable[] = []): Promise<T> {
  const requestId = nextRequest++;
  return new Promise<T>((resolve, reject) => {
    asked.set(requestId, { resolve: resolve as (r: never) => void, reject });
    post(make(requestId), transfer);
  });
}

/** State operations go to the main thread's StateService; the guest waits suspended meanwhile. */
const state: StateClient = {
  call: (op, args) => ask((requestId) => ({ type: 'state', requestId, op, args })),
};
const services: GuestServices = { calls, state };

function resolve(caller: InstanceHandle, name: string): InstancePool | undefined {
  if (!name.startsWith('#')) {
    const id = latest.get(name);
    return id === undefined ? undefined : pools.get(id);
  }
  const def = (caller as unknown as FunctionInstance).def;
  const entry = name.slice(1);
  if (!def.callableExports.includes(entry)) return undefined;
  const key = `${def.id}${name}`;
  let pool = ownExports.get(key);
  if (!pool) {
    // Same module, same snapshot, another entry: a function of its own, never stateful.
    const sub = { ...def, entry, name: `${def.name}${name}`, stateful: false };
    ownExports.set(key, (pool = new InstancePool(sub, hostInterfaces, memories, logSink, services)));
  }
  return pool;
}

function invoke(callId: number, id: number, input: Uint8Array): void {
  const pool = pools.get(id);
  if (!pool) {
    let list = parked.get(id);
    if (!list) parked.set(id, (list = []));
    list.push([callId, input]);
    return;
  }
  let result: InvocationResult | Promise<InvocationResult>;
  // From here on the call counts as started: if this worker is replaced, it fails instead of running again.
  markStarted(startedCalls, callId);
  // The pool picks (or creates) the instance synchronously, before any chained call can run.
  const coldStarts = pool.coldStarts;
  const started = performance.now();
  try {
    result = guarded(pool, Payload.of(input), callId);
  } catch (err) {
    sendError(callId, err, runUsFlags((performance.now() - started) * 1000));
    return;
  }
  const cold = pool.coldStarts !== coldStarts;
  // How long it ran, suspended time included, for placement: a call that waits is no tiny call.
  const flags = (): number => (cold ? RecordFlag.cold : 0) | runUsFlags((performance.now() - started) * 1000);
  if (result instanceof Promise) {
    countSuspended(result).then(
      (r) => sendResult(callId, r, flags()),
      (err: unknown) => sendError(callId, err, flags()),
    );
  } else sendResult(callId, result, flags());
}

/**
 * A call's trace and result take one channel, in order: both as records on the result ring when both fit,
 * else both in one message (a trace on the ring and its result by postMessage could arrive after the result).
 */
function sendResult(callId: number, result: InvocationResult, flags: number): void {
  const trace = result.trace?.length ? encoder.encode(JSON.stringify(result.trace)) : undefined;
  if (trace ? results.fits(trace.length, result.output.length) : results.fits(result.output.length)) {
    if (trace) results.write(RecordType.trace, callId, 0, trace);
    results.write(RecordType.ok, callId, result.exitCode ?? 0, result.output.chunks, flags);
    results.wake();
  } else {
    // A flattened output of several chunks is a fresh buffer; a single chunk is the guest's own copy.
    // Either belongs to this call alone, so it is transferred, not cloned; only a view is copied first.
    const flat = result.output.flatten();
    const output = wholeBuffer(flat) ? flat : flat.slice();
    const message: FromWorker = {
      type: 'result',
      callId,
      output,
      exitCode: result.exitCode ?? 0,
      flags,
      ...(trace ? { trace: result.trace! } : {}),
    };
    post(message, [output.buffer as ArrayBuffer]);
  }
  // Written to the ring or flattened: the output's pooled chunks can serve the next one.
  result.output.release();
}

function sendError(callId: number, err: unknown, flags = 0): void {
  const error = PlumeError.serialize(err, 'PLUME_ETRAP');
  if (results.write(RecordType.error, callId, 0, encoder.encode(JSON.stringify(error)), flags)) results.wake();
  else post({ type: 'result', callId, error, flags });
}

function register(def: FunctionDefinition): void {
  const pool = new InstancePool(def, hostInterfaces, memories, logSink, services);
  pools.set(def.id, pool);
  // A stateful function has one instance, on its home worker only: it is made by its first call.
  if (!def.stateful) pool.prewarm(def.minWarm);
  if ((latest.get(def.name) ?? 0) < def.id) latest.set(def.name, def.id);
  const waiting = parked.get(def.id) ?? [];
  parked.delete(def.id);
  for (const [callId, input] of waiting) invoke(callId, def.id, input);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'register':
      register(msg.def);
      if (msg.requestId !== undefined) post({ type: 'registered', requestId: msg.requestId });
      break;
    case 'unregister': {
      const name = pools.get(msg.id)?.def.name;
      if (name !== undefined && latest.get(name) === msg.id) latest.delete(name);
      for (const [key, pool] of ownExports) {
        if (!key.startsWith(`${msg.id}#`)) continue;
        pool.close();
        ownExports.delete(key);
      }
      pools.get(msg.id)?.close();
      pools.delete(msg.id);
      for (const [callId] of parked.get(msg.id) ?? []) {
        sendError(callId, new PlumeError('PLUME_ENOFUNC', `function version ${msg.id} was removed`));
      }
      parked.delete(msg.id);
      break;
    }
    case 'snapshot':
      try {
        post({ type: 'snapshot', requestId: msg.requestId, snapshot: takeSnapshot(msg.def, hostInterfaces, logSink) });
      } catch (err) {
        const error = err instanceof PlumeError ? err.toJSON() : { code: 'PLUME_ETRAP', message: String(err) };
        post({ type: 'snapshot', requestId: msg.requestId, error });
      }
      break;
    case 'prewarm': {
      const pool = pools.get(msg.id);
      pool?.prewarm(msg.count, msg.exercise);
      post({ type: 'prewarmed', requestId: msg.requestId, idle: pool?.idle ?? 0 });
      break;
    }
    case 'trim':
      pools.get(msg.id)?.trim(msg.keep);
      break;
    case 'model-add':
      models.register(msg.name, msg.bytes).then(
        (meta) => post({ type: 'model-done', requestId: msg.requestId, meta }),
        (err: unknown) => post({ type: 'model-done', requestId: msg.requestId, error: String((err as Error)?.message ?? err) }),
      );
      break;
    case 'quiesce':
      void models.settled().then(() => post({ type: 'quiesced', requestId: msg.requestId }));
      break;
    case 'model-remove':
      models.unregister(msg.name);
      post({ type: 'model-done', requestId: msg.requestId });
      break;
    case 'stats': {
      const stats: WorkerPoolStats[] = [];
      for (const pool of pools.values()) {
        // Other exports of a function's own module count as that function.
        const own = [...ownExports].filter(([key]) => key.startsWith(`${pool.def.id}#`)).map(([, p]) => p);
        const all = [pool, ...own];
        const sum = (f: (p: InstancePool) => number): number => all.reduce((n, p) => n + f(p), 0);
        stats.push({
          id: pool.def.id,
          idle: sum((p) => p.idle),
          busy: sum((p) => p.busy),
          coldStarts: sum((p) => p.coldStarts),
          invocations: sum((p) => p.invocations),
          instancesReplaced: sum((p) => p.replaced),
        });
      }
      post({ type: 'stats', requestId: msg.requestId, stats });
      break;
    }
    case 'invoke':
      invoke(msg.callId, msg.id, msg.input);
      break;
    case 'remote-functions':
      remoteFunctions = new Map(msg.functions);
      break;
    case 'reply': {
      const pending = asked.get(msg.requestId);
      asked.delete(msg.requestId);
      if (msg.error) pending?.reject(PlumeError.from(msg.error));
      else pending?.resolve(msg.result as never);
      break;
    }
  }
});

/**
 * With no suspended guest, nothing needs this thread's event loop but postMessage traffic, so the worker
 * first yields one turn (messages, pool refills) and then blocks in Atomics.wait: waking from a futex
 * takes microseconds where an event-loop wake-up through Atomics.waitAsync takes tens. The executor
 * interrupts the block after every postMessage it sends here. With suspended guests it must not block
 * (their timers and resumptions run on this loop), so it sleeps in Atomics.waitAsync instead.
 */
async function serve(): Promise<void> {
  for (;;) {
    requests.drain((type, id, arg, payload) => {
      // The payload is a view into the ring: copy it out before the ring reuses the space.
      if (type === RecordType.invoke) invoke(id, arg, payload.slice());
    });
    publishMemory();
    if (suspended > 0) {
      await requests.wait();
      continue;
    }
    await yieldTurn();
    if (suspended === 0 && requests.isEmpty()) requests.block(IDLE_BLOCK_MS);
  }
}

let published = -Infinity;

/** How much memory this worker holds, for the executor's placement; at most every PUBLISH_MS (it costs ~2 µs). */
function publishMemory(): void {
  if (performance.now() - published < PUBLISH_MS) return;
  published = performance.now();
  since[WORKER_MEMORY_F64] = getHeapStatistics().external_memory;
}

for (const def of init.defs) register(def);
post({ type: 'ready', ...threadId() });

/** This thread's id (Linux: /proc/thread-self names it), for the executor's priority changes; none elsewhere. */
function threadId(): { tid?: number } {
  try {
    return { tid: Number(readlinkSync('/proc/thread-self').split('/').pop()) };
  } catch {
    return {};
  }
}
void serve();

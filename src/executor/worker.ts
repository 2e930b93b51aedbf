/**
 * A worker thread: hosts instances of many functions, takes invocations from its request ring (or
 * postMessage) and answers on its result ring. Guests that wait are suspended with JSPI, so this thread's
 * event loop must never block: it sleeps with Atomics.waitAsync, never Atomics.wait.
 */
import { parentPort, workerData, type Transferable } from 'node:worker_threads';
import { PlumeError } from '../errors.ts';
import { takeSnapshot } from '../engine/compile.ts';
import { InstancePool } from '../engine/instance-pool.ts';
import type { InvocationResult, LogSink } from '../engine/instance.ts';
import { MemoryPool } from '../engine/memory-pool.ts';
import { hostInterfaces } from '../host/index.ts';
import { RecordType, RUNNING_CALL, RUNNING_SINCE_F64 } from './layout.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';
import { Ring } from './ring.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const requests = new Ring(init.requests);
const results = new Ring(init.results);
const since = new Float64Array(init.requests, 0, 32);
const pools = new Map<number, InstancePool>();
const memories = new MemoryPool();
const encoder = new TextEncoder();

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
/** Invocations whose guest is suspended (JSPI): while any exist, this thread's event loop must stay free. */
let suspended = 0;
/** How long an idle worker blocks before it runs housekeeping anyway. */
const IDLE_BLOCK_MS = 50;

function invoke(callId: number, id: number, input: Uint8Array): void {
  const pool = pools.get(id);
  if (!pool) {
    let list = parked.get(id);
    if (!list) parked.set(id, (list = []));
    list.push([callId, input]);
    return;
  }
  // The watchdog on the main thread reads these two to stop a guest that never returns.
  since[RUNNING_SINCE_F64] = performance.now();
  Atomics.store(requests.control, RUNNING_CALL, callId);
  let result: InvocationResult | Promise<InvocationResult>;
  try {
    result = pool.invoke(input);
  } catch (err) {
    sendError(callId, err);
    return;
  } finally {
    Atomics.store(requests.control, RUNNING_CALL, 0);
  }
  if (result instanceof Promise) {
    suspended++;
    result
      .then(
        (r) => sendResult(callId, r),
        (err: unknown) => sendError(callId, err),
      )
      .finally(() => suspended--);
  } else sendResult(callId, result);
}

function sendResult(callId: number, result: InvocationResult): void {
  if (results.write(RecordType.ok, callId, result.exitCode ?? 0, result.output)) results.wake();
  else {
    const output = result.output.slice();
    post({ type: 'result', callId, output, exitCode: result.exitCode ?? 0 }, [output.buffer]);
  }
}

function sendError(callId: number, err: unknown): void {
  const error = err instanceof PlumeError ? err.toJSON() : { code: 'PLUME_ETRAP', message: String((err as Error)?.message ?? err) };
  if (results.write(RecordType.error, callId, 0, encoder.encode(JSON.stringify(error)))) results.wake();
  else post({ type: 'result', callId, error });
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'register': {
      pools.set(msg.def.id, new InstancePool(msg.def, hostInterfaces, memories, logSink));
      const waiting = parked.get(msg.def.id) ?? [];
      parked.delete(msg.def.id);
      for (const [callId, input] of waiting) invoke(callId, msg.def.id, input);
      break;
    }
    case 'unregister':
      pools.delete(msg.id);
      for (const [callId] of parked.get(msg.id) ?? []) {
        sendError(callId, new PlumeError('PLUME_ENOFUNC', `function version ${msg.id} was removed`));
      }
      parked.delete(msg.id);
      break;
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
    case 'invoke':
      invoke(msg.callId, msg.id, msg.input);
      break;
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
  const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  for (;;) {
    requests.drain((type, id, arg, payload) => {
      // The payload is a view into the ring: copy it out before the ring reuses the space.
      if (type === RecordType.invoke) invoke(id, arg, payload.slice());
    });
    if (suspended > 0) {
      await requests.wait();
      continue;
    }
    await yieldTurn();
    if (suspended === 0 && requests.isEmpty()) requests.block(IDLE_BLOCK_MS);
  }
}

post({ type: 'ready' });
void serve();

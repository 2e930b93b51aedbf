/**
 * Shared-memory layout of one ring: the only numbers both sides of the thread boundary agree on.
 * Every slot is an Int32 index into the control block; HEAD and TAIL sit on separate 64-byte cache lines
 * so the producer's and the consumer's writes do not bounce one line between cores.
 */
export const CONTROL_BYTES = 256;
/** Consumer position, in bytes since the ring was made (wraps at 2^32; the capacity divides 2^32). */
export const HEAD = 0;
/** Producer position. */
export const TAIL = 16;
/** Bumped by the producer after every publish; the consumer sleeps on it with Atomics.waitAsync. */
export const WAKE = 32;
/** 1 while the consumer is (about to be) asleep: the producer notifies only then. */
export const SLEEPING = 33;
/** Worker rings only: the call a worker is executing synchronously right now (0 = none), for the watchdog. */
export const RUNNING_CALL = 48;
/** Float64 index (of a Float64Array over the control block): when RUNNING_CALL started, performance.now() ms. */
export const RUNNING_SINCE_F64 = 25;
/**
 * Float64 index, worker rings only: the worker's memory outside its JS heap in bytes (its instances' Wasm
 * memories and its buffers; V8's external memory), as the worker last published it, for placement.
 */
export const WORKER_MEMORY_F64 = 26;

/**
 * Entries of a worker's started-calls table, an Int32Array over a SharedArrayBuffer of its own: the worker
 * stores a call's id at `id % STARTED_SLOTS` when the call starts. When a worker is replaced, the executor
 * runs the calls it held that had not started on another worker, and fails only those that had. A later
 * call in the same entry reads as started: a collision can only fail a call, never run one twice.
 */
export const STARTED_SLOTS = 16384;

export function markStarted(table: Int32Array, callId: number): void {
  Atomics.store(table, callId % STARTED_SLOTS, callId | 0);
}

/** Whether the call (or a later one sharing its entry; ids wrap at 2^32) has started. */
export function hasStarted(table: Int32Array, callId: number): boolean {
  const seen = Atomics.load(table, callId % STARTED_SLOTS);
  return seen !== 0 && ((seen - callId) | 0) >= 0;
}

/** Data bytes of each ring of a worker unless the executor is told otherwise (`ringBytes`). */
export const DEFAULT_RING_BYTES = 4 * 1024 * 1024;

/** Record header: [size u32][type u32][id u32][arg u32][payload length u32][flags u32], then the payload; records are 8-byte aligned. */
export const RECORD_HEADER = 24;
export const RecordType = {
  /** Filler up to the end of the data area when a record does not fit before the wrap. */
  pad: 0,
  /** main → worker: id = call id, arg = function version id, payload = input. */
  invoke: 1,
  /** worker → main: id = call id, arg = exit code, payload = output. */
  ok: 2,
  /** worker → main: id = call id, payload = JSON SerializedError. */
  error: 3,
  /** worker → main: arg = log level, payload = function name, NUL, message. On the result ring so a
   * call's log lines arrive before its result. */
  log: 4,
  /** worker → main: id = call id, payload = JSON Hop[]; sent just before that call's result. */
  trace: 5,
} as const;
/** Bits of a record's flags. */
export const RecordFlag = {
  /** On `ok` and `error`: the call found no idle instance and created one (a cold start). */
  cold: 1,
} as const;

/**
 * Bits 8–31 of an `ok` or `error` record's flags: how long the call ran on the worker, in µs (saturated at
 * 2^24 − 1, ~16.8 s), which the executor's placement reads (docs/scheduler.md, Tiny calls).
 */
export const RUN_US_SHIFT = 8;
export const runUsFlags = (us: number): number => Math.min(0xff_ffff, Math.max(0, Math.round(us))) << RUN_US_SHIFT;

/**
 * The largest payload one record may carry in a ring of `capacity` data bytes (a quarter of it, so a
 * record always fits after a wrap); bigger ones go by postMessage.
 */
export function maxRecordPayload(capacity: number): number {
  return (capacity >>> 2) - RECORD_HEADER;
}

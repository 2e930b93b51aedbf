// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
// plume-sdk: AssemblyScript SDK for Plume guests (ABI version 1, import module "plume_v1").
// See docs/abi.md and README.md next to this file.

// ---- errno (closed set, docs/abi.md) ----
export const OK: u32 = 0;
export const INVAL: u32 = 1;
export const TOO_BIG: u32 = 2;
export const NOENT: u32 = 3;
export const BADF: u32 = 4;
export const TIMEOUT: u32 = 5;
export const CANCELED: u32 = 6;
export const FAILED: u32 = 7;
export const NOMEM: u32 = 8;
export const UNAVAILABLE: u32 = 9;
export const NOTSUP: u32 = 10;

// ---- enums ----
export const LOG_DEBUG: u32 = 0;
export const LOG_INFO: u32 = 1;
export const LOG_WARN: u32 = 2;
export const LOG_ERROR: u32 = 3;
/** Wall clock, nanoseconds since the Unix epoch. */
export const CLOCK_REALTIME: u32 = 0;
/** Monotonic clock, nanoseconds. */
export const CLOCK_MONOTONIC: u32 = 1;

// ---- raw imports of plume_v1: pointers are linear-memory addresses, results come back through out-pointers ----
export namespace raw {
  @external('plume_v1', 'input_size')
  export declare function input_size(out_size: usize): u32;
  @external('plume_v1', 'input_read')
  export declare function input_read(offset: u32, buf: usize, buf_len: u32, out_nread: usize): u32;
  @external('plume_v1', 'output_write')
  export declare function output_write(buf: usize, len: u32): u32;
  @external('plume_v1', 'log')
  export declare function log(level: u32, buf: usize, len: u32): u32;
  @external('plume_v1', 'clock_now')
  export declare function clock_now(clock: u32, out_ns: usize): u32;
  @external('plume_v1', 'random_fill')
  export declare function random_fill(buf: usize, len: u32): u32;
  @external('plume_v1', 'sleep')
  export declare function sleep(ms: u32): u32;
  @external('plume_v1', 'fail')
  export declare function fail(buf: usize, len: u32): u32;
  @external('plume_v1', 'refuse_input')
  export declare function refuse_input(reason: u32, buf: usize, len: u32): u32;
  @external('plume_v1', 'call')
  export declare function call(name: usize, name_len: u32, input: usize, input_len: u32, out_future: usize): u32;
  @external('plume_v1', 'call_future')
  export declare function call_future(name: usize, name_len: u32, input_future: u32, out_future: usize): u32;
  @external('plume_v1', 'call_many')
  export declare function call_many(name: usize, name_len: u32, inputs: usize, count: u32, out_futures: usize): u32;
  @external('plume_v1', 'await')
  export declare function await_(future: u32, timeout_ms: u32, out_len: usize): u32;
  @external('plume_v1', 'future_read')
  export declare function future_read(future: u32, offset: u32, buf: usize, buf_len: u32, out_nread: usize): u32;
  @external('plume_v1', 'future_error')
  export declare function future_error(future: u32, buf: usize, buf_len: u32, out_len: usize): u32;
  @external('plume_v1', 'cancel')
  export declare function cancel(future: u32): u32;
  // state (docs/state.md): keys and values are (ptr, len) byte ranges
  @external('plume_v1', 'state_get')
  export declare function state_get(key: usize, key_len: u32, buf: usize, buf_len: u32, out_len: usize, out_version: usize): u32;
  @external('plume_v1', 'state_get_range')
  export declare function state_get_range(key: usize, key_len: u32, offset: u32, buf: usize, len: u32, out_len: usize): u32;
  @external('plume_v1', 'state_set')
  export declare function state_set(key: usize, key_len: u32, value: usize, value_len: u32, out_version: usize): u32;
  @external('plume_v1', 'state_set_range')
  export declare function state_set_range(key: usize, key_len: u32, offset: u32, value: usize, value_len: u32, out_version: usize): u32;
  @external('plume_v1', 'state_cas')
  export declare function state_cas(key: usize, key_len: u32, expected: u64, value: usize, value_len: u32, out_version: usize): u32;
  @external('plume_v1', 'state_append')
  export declare function state_append(key: usize, key_len: u32, value: usize, value_len: u32, out_count: usize): u32;
  @external('plume_v1', 'state_read_appended')
  export declare function state_read_appended(key: usize, key_len: u32, from: u32, buf: usize, buf_len: u32, out_len: usize): u32;
  @external('plume_v1', 'state_delete')
  export declare function state_delete(key: usize, key_len: u32): u32;
  @external('plume_v1', 'state_lock')
  export declare function state_lock(key: usize, key_len: u32, lease_ms: u32, timeout_ms: u32, out_lock: usize): u32;
  @external('plume_v1', 'state_unlock')
  export declare function state_unlock(lock: u32): u32;
  @external('plume_v1', 'state_pull')
  export declare function state_pull(key: usize, key_len: u32): u32;
  @external('plume_v1', 'state_push')
  export declare function state_push(key: usize, key_len: u32): u32;
  @external('plume_v1', 'state_read')
  export declare function state_read(key: usize, key_len: u32, offset: u32, buf: usize, len: u32, out_len: usize): u32;
  @external('plume_v1', 'state_write')
  export declare function state_write(key: usize, key_len: u32, offset: u32, value: usize, value_len: u32): u32;
}

// 8 bytes of static scratch space for out-pointers.
const scratch: usize = memory.data(8);

function check(errno: u32, what: string): void {
  if (errno != OK) {
    fail(what + ' failed with errno ' + errno.toString());
    unreachable();
  }
}

/** Size of the input in bytes. */
export function inputSize(): u32 {
  check(raw.input_size(scratch), 'input_size');
  return load<u32>(scratch);
}

/** Up to `len` input bytes starting at `offset` (fewer at the end, none past it). */
export function inputRange(offset: u32, len: u32): Uint8Array {
  const buf = new Uint8Array(<i32>len);
  check(raw.input_read(offset, buf.dataStart, len, scratch), 'input_read');
  const nread = load<u32>(scratch);
  return nread == len ? buf : buf.subarray(0, <i32>nread);
}

/** The whole input. */
export function input(): Uint8Array {
  return inputRange(0, inputSize());
}

/** The whole input decoded as UTF-8. */
export function inputString(): string {
  const bytes = input();
  return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length);
}

/** Appends bytes to the output. Returns the errno: OK, or TOO_BIG (nothing appended) past maxOutputBytes. */
export function output(bytes: Uint8Array): u32 {
  return raw.output_write(bytes.dataStart, <u32>bytes.length);
}

/** Appends a string to the output, encoded as UTF-8 (no NUL). Returns the errno. */
export function outputString(s: string): u32 {
  const utf8 = String.UTF8.encode(s, false);
  return raw.output_write(changetype<usize>(utf8), <u32>utf8.byteLength);
}

/** A log line at `level` (LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR). Returns the errno. */
export function log(level: u32, msg: string): u32 {
  const utf8 = String.UTF8.encode(msg, false);
  return raw.log(level, changetype<usize>(utf8), <u32>utf8.byteLength);
}

/** Sets the failure message reported when the entry returns non-zero. Returns 1: `return fail("why")`. */
export function fail(msg: string): i32 {
  const utf8 = String.UTF8.encode(msg, false);
  raw.fail(changetype<usize>(utf8), <u32>utf8.byteLength);
  return 1;
}

/** `refuse()` reasons: the input is malformed (PLUME_EINPUT, HTTP 400) or over a limit of the function (PLUME_ETOOBIG, 413). */
export const REFUSE_MALFORMED: u32 = 0;
export const REFUSE_TOO_BIG: u32 = 1;

/** Fails because of the input, not the function (docs/abi.md, refuse_input). Returns 1: `return refuse(REFUSE_MALFORMED, "why")`. */
export function refuse(reason: u32, msg: string): i32 {
  const utf8 = String.UTF8.encode(msg, false);
  raw.refuse_input(reason, changetype<usize>(utf8), <u32>utf8.byteLength);
  return 1;
}

/** Nanoseconds on `clock` (CLOCK_REALTIME or CLOCK_MONOTONIC). */
export function nowNanos(clock: u32 = CLOCK_MONOTONIC): u64 {
  check(raw.clock_now(clock, scratch), 'clock_now');
  return load<u64>(scratch);
}

/** `n` cryptographically secure random bytes. */
export function randomBytes(n: i32): Uint8Array {
  const buf = new Uint8Array(n);
  check(raw.random_fill(buf.dataStart, <u32>n), 'random_fill');
  return buf;
}

/** Waits `ms` milliseconds (the host suspends the guest). Returns the errno. */
export function sleep(ms: u32): u32 {
  return raw.sleep(ms);
}

// ---- chained calls (docs/abi.md): a call returns a Future at once; await() suspends until it settles ----

/** A chained call in flight. `name` was a deployed function or "#export" of this module. */
export class Future {
  constructor(public readonly handle: u32) {}

  /** Waits (0 = no timeout). Returns the errno: OK, FAILED (see error()), TIMEOUT, CANCELED or BADF. */
  await(timeoutMs: u32 = 0): u32 {
    return raw.await_(this.handle, timeoutMs, scratch);
  }

  /** The whole output of a settled call (awaits it first; traps through fail() if it did not succeed). */
  output(): Uint8Array {
    check(this.await(), 'await');
    const len = load<u32>(scratch);
    const buf = new Uint8Array(<i32>len);
    check(raw.future_read(this.handle, 0, buf.dataStart, len, scratch), 'future_read');
    return buf;
  }

  /** The output decoded as UTF-8. */
  outputString(): string {
    const bytes = this.output();
    return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length);
  }

  /** The callee's error message after await() answered FAILED ("" otherwise). */
  error(): string {
    const buf = new Uint8Array(1024);
    if (raw.future_error(this.handle, buf.dataStart, 1024, scratch) != OK) return '';
    const len = min(load<u32>(scratch), 1024);
    return String.UTF8.decodeUnsafe(buf.dataStart, <usize>len);
  }

  /** Abandons the call: await() then answers CANCELED. */
  cancel(): u32 {
    return raw.cancel(this.handle);
  }
}

function futureFrom(errno: u32, what: string): Future {
  check(errno, what);
  return new Future(load<u32>(scratch));
}

/** Starts `name` with `input` (copied); returns at once. Traps through fail() if `name` is unknown. */
export function call(name: string, input: Uint8Array): Future {
  const n = String.UTF8.encode(name, false);
  return futureFrom(raw.call(changetype<usize>(n), <u32>n.byteLength, input.dataStart, <u32>input.length, scratch), 'call ' + name);
}

/** Starts `name` with a string input (UTF-8). */
export function callString(name: string, input: string): Future {
  return call(name, Uint8Array.wrap(String.UTF8.encode(input, false)));
}

/** Starts `name` with the output of `input` as its input, by reference, without waiting for it. */
export function callFuture(name: string, input: Future): Future {
  const n = String.UTF8.encode(name, false);
  return futureFrom(raw.call_future(changetype<usize>(n), <u32>n.byteLength, input.handle, scratch), 'call ' + name);
}

/** Fan-out: starts `name` once per input. */
export function callMany(name: string, inputs: Uint8Array[]): Future[] {
  const n = String.UTF8.encode(name, false);
  const count = inputs.length;
  const pairs = new Uint32Array(count * 2);
  for (let i = 0; i < count; i++) {
    pairs[2 * i] = <u32>inputs[i].dataStart;
    pairs[2 * i + 1] = <u32>inputs[i].length;
  }
  const handles = new Uint32Array(count);
  check(raw.call_many(changetype<usize>(n), <u32>n.byteLength, pairs.dataStart, <u32>count, handles.dataStart), 'call_many ' + name);
  const futures = new Array<Future>(count);
  for (let i = 0; i < count; i++) futures[i] = new Future(handles[i]);
  return futures;
}

// ---- state (docs/state.md): string keys (their UTF-8 bytes), byte values; every call suspends the guest ----
// A wrapper that answers null, false or 0 failed: stateErrno() says why (NOENT, UNAVAILABLE, TIMEOUT, ...).

let lastErrno: u32 = OK;
let lastVersion: u64 = 0;

// 8 bytes of static space for out_version, reserved here (not at top level) so only modules using state have it.
function versionOut(): usize {
  return memory.data(8);
}

// Zeroed before each versioned call, so a call that did not write it reads 0.
function versionPtr(): usize {
  store<u64>(versionOut(), 0);
  return versionOut();
}

function lenPtr(): usize {
  store<u32>(scratch, 0);
  return scratch;
}

function done(errno: u32): u32 {
  lastErrno = errno;
  return errno;
}

function versioned(errno: u32): u32 {
  lastVersion = load<u64>(versionOut());
  return done(errno);
}

/** A byte range read into a buffer of `len` bytes: the bytes the host wrote, or null if the call failed. */
function filled(errno: u32, buf: Uint8Array): Uint8Array | null {
  if (done(errno) != OK) return null;
  return buf.subarray(0, <i32>min(load<u32>(scratch), <u32>buf.length));
}

/** The errno of the last state call (OK, NOENT, FAILED, TIMEOUT, UNAVAILABLE, ...). */
export function stateErrno(): u32 {
  return lastErrno;
}

/** The version from the last stateGet, stateSet, stateSetRange or stateCompareAndSet (current one on a conflict; 0 if none). */
export function stateVersion(): u64 {
  return lastVersion;
}

/** The key's whole value (the buffer grows until it fits), or null if absent (NOENT) or on error. Sets stateVersion(). */
export function stateGet(key: string): Uint8Array | null {
  const k = String.UTF8.encode(key, false);
  let buf = new Uint8Array(256);
  while (true) {
    const errno = raw.state_get(changetype<usize>(k), <u32>k.byteLength, buf.dataStart, <u32>buf.length, lenPtr(), versionPtr());
    if (versioned(errno) != OK) return null;
    const len = load<u32>(scratch);
    if (len <= <u32>buf.length) return buf.subarray(0, <i32>len);
    buf = new Uint8Array(<i32>len); // the value is longer than the buffer: read it again, whole
  }
}

/** stateGet decoded as UTF-8. */
export function stateGetString(key: string): string | null {
  const value = stateGet(key);
  return value === null ? null : String.UTF8.decodeUnsafe(value.dataStart, <usize>value.length);
}

/** Up to `len` bytes of the value from `offset` (cut at its end), or null if absent or on error. */
export function stateGetRange(key: string, offset: u32, len: u32): Uint8Array | null {
  const k = String.UTF8.encode(key, false);
  const buf = new Uint8Array(<i32>len);
  return filled(raw.state_get_range(changetype<usize>(k), <u32>k.byteLength, offset, buf.dataStart, len, lenPtr()), buf);
}

/** Replaces the value; returns its new version (0 on error). */
export function stateSet(key: string, value: Uint8Array): u64 {
  const k = String.UTF8.encode(key, false);
  versioned(raw.state_set(changetype<usize>(k), <u32>k.byteLength, value.dataStart, <u32>value.length, versionPtr()));
  return lastVersion;
}

/** stateSet with a string value (UTF-8). */
export function stateSetString(key: string, value: string): u64 {
  return stateSet(key, Uint8Array.wrap(String.UTF8.encode(value, false)));
}

/** Writes `value` at `offset` (creating the key, padding with zeros); returns the new version (0 on error). */
export function stateSetRange(key: string, offset: u32, value: Uint8Array): u64 {
  const k = String.UTF8.encode(key, false);
  versioned(raw.state_set_range(changetype<usize>(k), <u32>k.byteLength, offset, value.dataStart, <u32>value.length, versionPtr()));
  return lastVersion;
}

/** Sets the value only if its version is `expected` (0: absent). false on a conflict (FAILED; stateVersion() is the current one) or error. */
export function stateCompareAndSet(key: string, expected: u64, value: Uint8Array): bool {
  const k = String.UTF8.encode(key, false);
  return versioned(raw.state_cas(changetype<usize>(k), <u32>k.byteLength, expected, value.dataStart, <u32>value.length, versionPtr())) == OK;
}

/** Appends an entry to the key's log; returns the number of entries after it (0 on error). */
export function stateAppend(key: string, value: Uint8Array): u32 {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_append(changetype<usize>(k), <u32>k.byteLength, value.dataStart, <u32>value.length, lenPtr())) == OK ? load<u32>(scratch) : 0;
}

/** The log's entries from index `from` (the buffer grows until they fit); empty on error. */
export function stateReadAppended(key: string, from: u32 = 0): Uint8Array[] {
  const k = String.UTF8.encode(key, false);
  const entries = new Array<Uint8Array>();
  let buf = new Uint8Array(1024);
  while (done(raw.state_read_appended(changetype<usize>(k), <u32>k.byteLength, from, buf.dataStart, <u32>buf.length, lenPtr())) == TOO_BIG) {
    const needed = load<u32>(scratch); // with TOO_BIG, out_len is the size needed
    if (needed <= <u32>buf.length) return entries;
    buf = new Uint8Array(<i32>needed);
  }
  if (lastErrno != OK) return entries;
  // [u32 length][bytes] per entry
  const size = load<u32>(scratch);
  for (let at: u32 = 0; at + 4 <= size; ) {
    const n = load<u32>(buf.dataStart + at);
    entries.push(buf.slice(<i32>(at + 4), <i32>(at + 4 + n)));
    at += 4 + n;
  }
  return entries;
}

/** Deletes the value and the log: true if either existed (false: NOENT, or an error). */
export function stateDelete(key: string): bool {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_delete(changetype<usize>(k), <u32>k.byteLength)) == OK;
}

/** Takes the key's lock for `leaseMs`, waiting up to `timeoutMs` (0: 30 s); returns the lock handle (0: TIMEOUT or error). */
export function stateLock(key: string, leaseMs: u32, timeoutMs: u32 = 0): u32 {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_lock(changetype<usize>(k), <u32>k.byteLength, leaseMs, timeoutMs, lenPtr())) == OK ? load<u32>(scratch) : 0;
}

/** Releases a lock; returns the errno: OK, FAILED if the lease had expired, BADF for an unknown handle. */
export function stateUnlock(lock: u32): u32 {
  return done(raw.state_unlock(lock));
}

/** Replaces the local copy with the global value; returns the errno (NOENT if absent globally). */
export function statePull(key: string): u32 {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_pull(changetype<usize>(k), <u32>k.byteLength));
}

/** Writes the local copy's dirty chunks to the global tier; returns the errno (NOENT if nothing was dirty). */
export function statePush(key: string): u32 {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_push(changetype<usize>(k), <u32>k.byteLength));
}

/** Up to `len` bytes of the local copy from `offset`, or null if there is none (NOENT). */
export function stateRead(key: string, offset: u32, len: u32): Uint8Array | null {
  const k = String.UTF8.encode(key, false);
  const buf = new Uint8Array(<i32>len);
  return filled(raw.state_read(changetype<usize>(k), <u32>k.byteLength, offset, buf.dataStart, len, lenPtr()), buf);
}

/** Writes `bytes` into the local copy at `offset` (push to publish); returns the errno. */
export function stateWrite(key: string, offset: u32, bytes: Uint8Array): u32 {
  const k = String.UTF8.encode(key, false);
  return done(raw.state_write(changetype<usize>(k), <u32>k.byteLength, offset, bytes.dataStart, <u32>bytes.length));
}

/**
 * Abort handler: reports the message (with its source location) through `fail`, then traps.
 * Wire it with `asc --use abort=<path of this file without .ts>/plumeAbort`, e.g.
 * `--use abort=~lib/plume-sdk/index/plumeAbort` when installed, so that the module imports nothing from `env`.
 */
export function plumeAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = message !== null ? message : 'abort';
  if (fileName !== null) text += ' (' + fileName + ':' + line.toString() + ':' + column.toString() + ')';
  fail(text);
  unreachable();
}

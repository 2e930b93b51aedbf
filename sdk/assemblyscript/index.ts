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

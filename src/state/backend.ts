/**
 * The global state tier (Faasm's "global tier"): one interface, two backends (in-process memory, Redis).
 * Every operation on one key is atomic and linearizable; docs/state.md states the whole model.
 */
import { PlumeError } from '../errors.ts';

/** A key is a name of bytes; a string names the bytes of its UTF-8 encoding, so `'a'` and `[0x61]` are one key. */
export type StateKey = string | Uint8Array;

export interface VersionedValue {
  value: Uint8Array;
  /** Bumped by every write; never reused by this backend, not even after a delete (so CAS cannot see ABA). */
  version: number;
}

export interface CompareAndSetResult {
  ok: boolean;
  /** The new version when `ok`; otherwise the current one (0: the key does not exist). */
  version: number;
}

/** A held lock. `token` is a fencing token: a later lease of any lock in this backend always has a larger one. */
export interface LockLease {
  readonly key: StateKey;
  readonly owner: string;
  readonly token: number;
  /** Local clock (ms since epoch) before which the lease is certainly still held; measured from before the request. */
  readonly expiresAt: number;
}

export interface AcquireOptions {
  /** How long to wait for the lock before failing with PLUME_ELOCKED. Default 30,000 (the default call timeout). */
  timeoutMs?: number;
}

export interface StateBackend {
  /** The largest value (and appended entry) this backend accepts; larger ones fail with PLUME_ETOOBIG. */
  readonly maxValueBytes: number;
  get(key: StateKey): Promise<VersionedValue | undefined>;
  /** Up to `length` bytes from `offset`, cut at the value's end; undefined if the key does not exist. */
  getRange(key: StateKey, offset: number, length: number): Promise<Uint8Array | undefined>;
  /** Replaces the value; resolves to its new version. */
  set(key: StateKey, value: Uint8Array): Promise<number>;
  /** Writes `bytes` at `offset`, creating the key and padding with zeros as needed; resolves to the new version. */
  setRange(key: StateKey, offset: number, bytes: Uint8Array): Promise<number>;
  /** Sets the value only if its version is `expectedVersion` (0: only if the key does not exist). */
  compareAndSet(key: StateKey, expectedVersion: number, value: Uint8Array): Promise<CompareAndSetResult>;
  /** Appends one entry to the key's append log (separate from its value); resolves to the number of entries. */
  append(key: StateKey, bytes: Uint8Array): Promise<number>;
  /** The append log's entries from index `from` on. */
  readAppended(key: StateKey, from?: number): Promise<Uint8Array[]>;
  /** Removes the value and the append log (not the lock); true if either existed. */
  delete(key: StateKey): Promise<boolean>;
  /** Takes the lock if it is free (or its lease ran out); undefined if another owner holds it. Never waits. */
  lock(key: StateKey, leaseMs: number, owner: string): Promise<LockLease | undefined>;
  /** Takes the lock, waiting for its release (woken by it, not by polling) or for its holder's lease to run out. */
  acquire(key: StateKey, leaseMs: number, owner: string, options?: AcquireOptions): Promise<LockLease>;
  /** Releases the lock; false if the lease ran out or another lease holds the lock now. */
  unlock(lease: LockLease): Promise<boolean>;
  /** Fails pending `acquire`s and later calls with PLUME_ECLOSED and lets go of connections. */
  close(): Promise<void>;
}

/** Redis's own ceiling for a string (proto-max-bulk-len), so both backends accept the same values by default. */
export const DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024;
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();

export function keyBytes(key: StateKey): Uint8Array {
  if (typeof key === 'string') return encoder.encode(key);
  if (key instanceof Uint8Array) return key;
  throw new TypeError('key must be a string or a Uint8Array');
}

/** A string that identifies the key's bytes one-to-one, for Maps (latin1 maps each byte to one char). */
export function keyId(key: StateKey): string {
  return Buffer.from(keyBytes(key)).toString('latin1');
}

/** The key for messages: its text when it is UTF-8, else its bytes in hex. */
export function describeKey(key: StateKey): string {
  if (typeof key === 'string') return JSON.stringify(key);
  try {
    return JSON.stringify(new TextDecoder('utf-8', { fatal: true }).decode(key));
  } catch {
    return `0x${Buffer.from(key).toString('hex')}`;
  }
}

export function checkMaxValueBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_VALUE_BYTES;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`maxValueBytes must be a positive integer, got ${value}`);
  return value;
}

export function checkBytes(name: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

export function checkIndex(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
}

/** Throws PLUME_ETOOBIG when a value would end past `max` bytes. */
export function checkSize(key: StateKey, end: number, max: number): void {
  if (end > max) throw new PlumeError('PLUME_ETOOBIG', `state value ${describeKey(key)} would be ${end} bytes, above the limit of ${max}`);
}

export function checkLockArgs(leaseMs: number, owner: string): void {
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) throw new RangeError(`leaseMs must be a positive integer, got ${leaseMs}`);
  if (typeof owner !== 'string' || owner === '') throw new TypeError('owner must be a non-empty string');
}

export function acquireTimeout(options: AcquireOptions | undefined): number {
  const timeoutMs = options?.timeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS;
  if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be a non-negative number, got ${timeoutMs}`);
  return timeoutMs;
}

export const closedError = (): PlumeError => new PlumeError('PLUME_ECLOSED', 'the state backend is closed');

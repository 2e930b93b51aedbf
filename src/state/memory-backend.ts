/**
 * The embedded global tier: in-process Maps, the default when no Redis is configured. Each call runs to
 * completion before the next (one event loop), which makes every operation atomic; values are copied in
 * and out so no caller can change stored bytes behind the backend's back.
 */
import {
  acquireTimeout,
  checkBytes,
  checkIndex,
  checkLockArgs,
  checkMaxValueBytes,
  checkSize,
  closedError,
  keyId,
  type AcquireOptions,
  type CompareAndSetResult,
  type LockLease,
  type StateBackend,
  type StateKey,
  type VersionedValue,
} from './backend.ts';
import { ReleaseSignals, waitForLock, type LockAttempt } from './lock-wait.ts';

export interface MemoryBackendOptions {
  /** Default 512 MiB. */
  maxValueBytes?: number;
}

interface Stored {
  value: Uint8Array;
  version: number;
}

interface Held {
  owner: string;
  token: number;
  /** performance.now() when the lease runs out: monotonic, unlike the wall clock in LockLease.expiresAt. */
  until: number;
}

export class MemoryBackend implements StateBackend {
  readonly maxValueBytes: number;
  #values = new Map<string, Stored>();
  #logs = new Map<string, Uint8Array[]>();
  #locks = new Map<string, Held>();
  /** One counter for versions and fencing tokens, so neither is ever reused. */
  #clock = 0;
  #signals = new ReleaseSignals();
  #closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    this.maxValueBytes = checkMaxValueBytes(options.maxValueBytes);
  }

  async get(key: StateKey): Promise<VersionedValue | undefined> {
    this.#assertOpen();
    const stored = this.#values.get(keyId(key));
    return stored && { value: stored.value.slice(), version: stored.version };
  }

  async getRange(key: StateKey, offset: number, length: number): Promise<Uint8Array | undefined> {
    checkIndex('offset', offset);
    checkIndex('length', length);
    this.#assertOpen();
    return this.#values.get(keyId(key))?.value.slice(offset, offset + length);
  }

  async set(key: StateKey, value: Uint8Array): Promise<number> {
    checkBytes('value', value);
    checkSize(key, value.length, this.maxValueBytes);
    this.#assertOpen();
    return this.#store(keyId(key), value.slice());
  }

  async setRange(key: StateKey, offset: number, bytes: Uint8Array): Promise<number> {
    checkIndex('offset', offset);
    checkBytes('bytes', bytes);
    const end = offset + bytes.length;
    checkSize(key, end, this.maxValueBytes);
    this.#assertOpen();
    const id = keyId(key);
    let value = this.#values.get(id)?.value ?? new Uint8Array(0);
    if (end > value.length) {
      const grown = new Uint8Array(end);
      grown.set(value);
      value = grown;
    }
    value.set(bytes, offset);
    return this.#store(id, value);
  }

  async compareAndSet(key: StateKey, expectedVersion: number, value: Uint8Array): Promise<CompareAndSetResult> {
    checkIndex('expectedVersion', expectedVersion);
    checkBytes('value', value);
    checkSize(key, value.length, this.maxValueBytes);
    const id = keyId(key);
    this.#assertOpen();
    const current = this.#values.get(id)?.version ?? 0;
    if (current !== expectedVersion) return { ok: false, version: current };
    return { ok: true, version: this.#store(id, value.slice()) };
  }

  async append(key: StateKey, bytes: Uint8Array): Promise<number> {
    checkBytes('bytes', bytes);
    checkSize(key, bytes.length, this.maxValueBytes);
    const id = keyId(key);
    this.#assertOpen();
    let log = this.#logs.get(id);
    if (!log) this.#logs.set(id, (log = []));
    return log.push(bytes.slice());
  }

  async readAppended(key: StateKey, from = 0): Promise<Uint8Array[]> {
    checkIndex('from', from);
    this.#assertOpen();
    return (this.#logs.get(keyId(key)) ?? []).slice(from).map((entry) => entry.slice());
  }

  async delete(key: StateKey): Promise<boolean> {
    const id = keyId(key);
    this.#assertOpen();
    const hadValue = this.#values.delete(id);
    return this.#logs.delete(id) || hadValue;
  }

  async lock(key: StateKey, leaseMs: number, owner: string): Promise<LockLease | undefined> {
    checkLockArgs(leaseMs, owner);
    this.#assertOpen();
    const result = this.#tryLock(key, leaseMs, owner);
    return 'lease' in result ? result.lease : undefined;
  }

  async acquire(key: StateKey, leaseMs: number, owner: string, options?: AcquireOptions): Promise<LockLease> {
    checkLockArgs(leaseMs, owner);
    const timeoutMs = acquireTimeout(options);
    const attempt = async (): Promise<LockAttempt> => {
      this.#assertOpen();
      return this.#tryLock(key, leaseMs, owner);
    };
    return waitForLock(key, keyId(key), this.#signals, attempt, timeoutMs);
  }

  async unlock(lease: LockLease): Promise<boolean> {
    const id = keyId(lease.key);
    this.#assertOpen();
    const held = this.#locks.get(id);
    if (!held || held.token !== lease.token || held.until <= performance.now()) return false;
    this.#locks.delete(id);
    this.#signals.release(id);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#signals.close(closedError());
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError();
  }

  #store(id: string, value: Uint8Array): number {
    const version = ++this.#clock;
    this.#values.set(id, { value, version });
    return version;
  }

  #tryLock(key: StateKey, leaseMs: number, owner: string): LockAttempt {
    const id = keyId(key);
    const expiresAt = Date.now() + leaseMs;
    const now = performance.now();
    const held = this.#locks.get(id);
    // An expired lease is simply overwritten: expiry needs no timer, only this comparison.
    if (held && held.until > now) return { holder: held.owner, remainingMs: held.until - now };
    const token = ++this.#clock;
    this.#locks.set(id, { owner, token, until: now + leaseMs });
    return { lease: { key, owner, token, expiresAt } };
  }
}

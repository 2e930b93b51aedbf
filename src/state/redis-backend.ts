/**
 * The global tier in Redis, shared by every node. Multi-key steps run as Lua scripts (redis-scripts.ts), so
 * each operation is atomic. The client connects on first use and, while Redis is away, every call fails at
 * once with PLUME_ESTATE_UNAVAILABLE instead of queueing; it keeps reconnecting in the background.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { Redis, type RedisOptions } from 'ioredis';
import { PlumeError } from '../errors.ts';
import {
  acquireTimeout,
  checkBytes,
  checkIndex,
  checkLockArgs,
  checkMaxValueBytes,
  checkSize,
  closedError,
  keyBytes,
  keyId,
  type AcquireOptions,
  type CompareAndSetResult,
  type LockLease,
  type StateBackend,
  type StateKey,
  type VersionedValue,
} from './backend.ts';
import { ReleaseSignals, waitForLock, type LockAttempt } from './lock-wait.ts';
import { SCRIPTS, type ScriptCommands } from './redis-scripts.ts';

export interface RedisBackendOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` for TLS. */
  url: string;
  /** Prefix of every key and channel this backend uses, so several deployments can share one Redis. Default `plume:`. */
  prefix?: string;
  /** Default 512 MiB, Redis's own ceiling for a string. */
  maxValueBytes?: number;
  /**
   * How long connecting, or one command, may take before the call fails with PLUME_ESTATE_UNAVAILABLE.
   * Default 5,000; raise it for very large values on a slow link.
   */
  timeoutMs?: number;
}

/** `{ url, event: 'ready' | 'error', error? }` when the connection comes up, and when it first fails after being up (or never came up). */
const connectionChannel = diagnostics_channel.channel('plume:state:connection');

type Client = Redis & ScriptCommands;

/**
 * ioredis settings for a connection whose commands must fail fast while Redis is away (the state tier,
 * the cluster registry): no offline queue, no silent resend, bounded connect and command times, and
 * reconnection forever at most a second apart.
 */
export function failFastRedisOptions(timeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    // Fail fast while disconnected rather than queue calls that may never be served.
    enableOfflineQueue: false,
    // A write in flight when the connection drops fails instead of being sent again on reconnect: it may
    // already have been applied, and appends and versions must not happen twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // Reconnect forever, at most a second apart, so calls work again soon after Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 50, 1000),
    // ioredis arms this timer on close() even for a socket that is already gone, and it holds the
    // process open: 2 s by default after closing a backend whose Redis is down.
    disconnectTimeout: 100,
  };
}

export class RedisBackend implements StateBackend {
  readonly maxValueBytes: number;
  /** The URL without its password, fit for messages and logs. */
  readonly url: string;
  #client: Client;
  #subscriber: Redis | undefined;
  #subscribed: Promise<unknown> | undefined;
  #firstConnect: Promise<void> | undefined;
  #lastError: Error | undefined;
  /** Whether the last transition was up (true) or down (false); undefined before the first. */
  #connected: boolean | undefined;
  #signals = new ReleaseSignals();
  #closed = false;
  #prefix: string;
  #clock: Buffer;
  #channel: Buffer;

  constructor(options: RedisBackendOptions) {
    this.url = redact(options.url);
    this.maxValueBytes = checkMaxValueBytes(options.maxValueBytes);
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new RangeError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    this.#prefix = options.prefix ?? 'plume:';
    if (typeof this.#prefix !== 'string') throw new TypeError('prefix must be a string');
    this.#clock = Buffer.from(`${this.#prefix}clock`);
    this.#channel = Buffer.from(`${this.#prefix}released`);
    this.#client = new Redis(options.url, failFastRedisOptions(timeoutMs)) as Client;
    for (const [name, script] of Object.entries(SCRIPTS)) this.#client.defineCommand(name, script);
    this.#watch(this.#client);
  }

  async get(key: StateKey): Promise<VersionedValue | undefined> {
    const [value, version] = await this.#run((c) => c.mgetBuffer(this.#key('v', key), this.#key('n', key)));
    return value && version ? { value: bytes(value), version: Number(version) } : undefined;
  }

  async getRange(key: StateKey, offset: number, length: number): Promise<Uint8Array | undefined> {
    checkIndex('offset', offset);
    checkIndex('length', length);
    const range = await this.#run((c) => c.plumeGetRangeBuffer(this.#key('v', key), this.#key('n', key), offset, length));
    return range ? bytes(range) : undefined;
  }

  async set(key: StateKey, value: Uint8Array): Promise<number> {
    checkBytes('value', value);
    checkSize(key, value.length, this.maxValueBytes);
    return this.#run((c) => c.plumeSet(...this.#valueKeys(key), buffer(value)));
  }

  async setRange(key: StateKey, offset: number, data: Uint8Array): Promise<number> {
    checkIndex('offset', offset);
    checkBytes('bytes', data);
    checkSize(key, offset + data.length, this.maxValueBytes);
    return this.#run((c) => c.plumeSetRange(...this.#valueKeys(key), offset, buffer(data)));
  }

  async compareAndSet(key: StateKey, expectedVersion: number, value: Uint8Array): Promise<CompareAndSetResult> {
    checkIndex('expectedVersion', expectedVersion);
    checkBytes('value', value);
    checkSize(key, value.length, this.maxValueBytes);
    const [ok, version] = await this.#run((c) => c.plumeCompareAndSet(...this.#valueKeys(key), expectedVersion, buffer(value)));
    return { ok: ok === 1, version };
  }

  async append(key: StateKey, data: Uint8Array): Promise<number> {
    checkBytes('bytes', data);
    checkSize(key, data.length, this.maxValueBytes);
    return this.#run((c) => c.rpush(this.#key('a', key), buffer(data)));
  }

  async readAppended(key: StateKey, from = 0): Promise<Uint8Array[]> {
    checkIndex('from', from);
    const entries = await this.#run((c) => c.lrangeBuffer(this.#key('a', key), from, -1));
    return entries.map(bytes);
  }

  async delete(key: StateKey): Promise<boolean> {
    return (await this.#run((c) => c.del(this.#key('v', key), this.#key('n', key), this.#key('a', key)))) > 0;
  }

  async lock(key: StateKey, leaseMs: number, owner: string): Promise<LockLease | undefined> {
    checkLockArgs(leaseMs, owner);
    const result = await this.#tryLock(key, leaseMs, owner);
    return 'lease' in result ? result.lease : undefined;
  }

  async acquire(key: StateKey, leaseMs: number, owner: string, options?: AcquireOptions): Promise<LockLease> {
    checkLockArgs(leaseMs, owner);
    const timeoutMs = acquireTimeout(options);
    await this.#subscribe();
    return waitForLock(key, keyId(key), this.#signals, () => this.#tryLock(key, leaseMs, owner), timeoutMs);
  }

  async unlock(lease: LockLease): Promise<boolean> {
    const key = keyBytes(lease.key);
    return (await this.#run((c) => c.plumeUnlock(this.#key('l', key), lease.token, this.#channel, buffer(key)))) === 1;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signals.close(closedError());
    this.#client.disconnect();
    this.#subscriber?.disconnect();
  }

  async #tryLock(key: StateKey, leaseMs: number, owner: string): Promise<LockAttempt> {
    const expiresAt = Date.now() + leaseMs;
    const result = await this.#run((c) => c.plumeTryLock(this.#key('l', key), this.#clock, leaseMs, owner));
    if (result[0] === 1) return { lease: { key, owner, token: result[1], expiresAt } };
    return { holder: result[1], remainingMs: Math.max(result[2], 0) };
  }

  /**
   * Subscribes once to the release channel, which every unlock publishes to, before the first wait: a
   * waiter woken by it retries at once. A release missed while the subscriber reconnects only delays the
   * waiter until the holder's lease runs out.
   */
  async #subscribe(): Promise<void> {
    if (this.#closed) throw closedError();
    if (!this.#subscriber) {
      // Unlike the command client, the subscriber may queue: SUBSCRIBE is idempotent and is sent on connect.
      this.#subscriber = this.#client.duplicate({ lazyConnect: false, enableOfflineQueue: true });
      this.#watch(this.#subscriber);
      this.#subscriber.on('messageBuffer', (_channel: Buffer, key: Buffer) => this.#signals.release(key.toString('latin1')));
    }
    this.#subscribed ??= this.#subscriber.subscribe(this.#channel).catch((e: unknown) => {
      this.#subscribed = undefined;
      throw this.#unavailable(e);
    });
    await this.#subscribed;
  }

  async #run<T>(command: (client: Client) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    // Only the first connection is awaited; later outages make commands fail at once (no offline queue).
    await (this.#firstConnect ??= this.#client.connect().catch(() => {}));
    try {
      return await command(this.#client);
    } catch (e) {
      throw this.#closed ? closedError() : this.#unavailable(e);
    }
  }

  #unavailable(e: unknown): PlumeError {
    const reason = this.#client.status === 'ready' ? String((e as Error)?.message ?? e) : this.#disconnectedReason();
    return new PlumeError('PLUME_ESTATE_UNAVAILABLE', `the Redis state backend at ${this.url} is unavailable: ${reason}`, {
      url: this.url,
    });
  }

  #disconnectedReason(): string {
    const last = this.#lastError ? `; last error: ${this.#lastError.message}` : '';
    return `not connected (${this.#client.status}${last})`;
  }

  /**
   * Without an 'error' listener ioredis prints every failed reconnect; the last one goes into our messages.
   * The channel hears transitions only — the first failure of an outage ('error') and the connection that
   * ends it ('ready') — so a node logs an outage once, not once per reconnect attempt or per call.
   */
  #watch(client: Redis): void {
    client.on('error', (error: Error) => {
      this.#lastError = error;
      if (this.#connected === false) return;
      this.#connected = false;
      if (connectionChannel.hasSubscribers) connectionChannel.publish({ url: this.url, event: 'error', error });
    });
    client.on('close', () => {
      if (this.#connected !== true || this.#closed) return;
      this.#connected = false;
      if (connectionChannel.hasSubscribers)
        connectionChannel.publish({ url: this.url, event: 'error', error: new Error('connection closed') });
    });
    client.on('ready', () => {
      this.#connected = true;
      if (connectionChannel.hasSubscribers) connectionChannel.publish({ url: this.url, event: 'ready' });
    });
  }

  #key(kind: 'v' | 'n' | 'a' | 'l', key: StateKey): Buffer {
    return Buffer.concat([Buffer.from(`${this.#prefix}${kind}:`), keyBytes(key)]);
  }

  #valueKeys(key: StateKey): [Buffer, Buffer, Buffer] {
    return [this.#key('v', key), this.#key('n', key), this.#clock];
  }
}

/** A Buffer over the same bytes: ioredis sends Buffers as bytes but turns other typed arrays into "1,2,3". */
function buffer(view: Uint8Array): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A plain Uint8Array over a reply's bytes, so both backends return the same type. */
function bytes(reply: Buffer): Uint8Array {
  return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength);
}

function redact(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`url must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

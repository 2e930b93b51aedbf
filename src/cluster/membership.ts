/**
 * Membership on Redis (docs/cluster.md, Membership). Each node holds `plume:cluster:node:<id>`: its
 * NodeInfo and load as JSON, with a PX TTL renewed every TTL/3, so a node that dies leaves the cluster when
 * its key expires and one that stops deletes it. Joins and leaves are announced on `plume:cluster:members`,
 * which makes every node list the members again at once instead of at its next round.
 *
 * The key carries an owner token: a node only renews or deletes a key that holds its own, so a second
 * process started with a live node's id cannot take it over (PLUME_ENODEID), and a node whose key expired
 * while Redis was away takes it back when Redis returns.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, freemem } from 'node:os';
import { Redis } from 'ioredis';
import { PlumeError } from '../errors.ts';
import type { NodeInfo } from './links.ts';

export const NODE_KEY_PREFIX = 'plume:cluster:node:';
export const MEMBERS_CHANNEL = 'plume:cluster:members';

/** What a member's key holds. */
export interface MemberRecord extends NodeInfo {
  /** Its gateway's URL (`plume up` prints it), for people and for `/system/peers`. */
  readonly gateway?: string;
  readonly cores: number;
  readonly freeMemoryBytes: number;
  /** The functions deployed there: a member whose list changed is asked again what it serves. */
  readonly functions: readonly string[];
  /** Random per process: whose key this is. */
  readonly token: string;
  readonly startedAt: number;
}

export interface MembershipOptions {
  readonly redisUrl: string;
  readonly info: NodeInfo;
  readonly gateway?: string;
  /** The functions deployed on this node, read at every renewal. */
  readonly functions: () => readonly string[];
  /** The key's TTL (default 3000 ms): how long a killed node stays a member. Renewed every TTL/3. */
  readonly ttlMs?: number;
  /** Start even when Redis cannot be reached (`--redis-optional`): single-node until it can. */
  readonly optional?: boolean;
  /** Every list of the other members (after each round and each announcement). */
  readonly onMembers?: (members: readonly MemberRecord[]) => void | Promise<void>;
  /** One line per change of state (Redis lost, back, an id clash); default none. */
  readonly log?: (line: string) => void;
}

export interface ReadinessCheck {
  readonly name: string;
  check(): true | string;
}

/** Claims the key when it is free or ours (then sets it with its TTL); 0 when another owner holds it. */
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`;
/** Deletes the key only if it is still ours. */
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** This node's registration in the cluster and its view of the other members. */
export class Membership {
  readonly #options: MembershipOptions;
  readonly #ttlMs: number;
  readonly #token = randomUUID();
  readonly #startedAt = Date.now();
  readonly #key: string;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  #timer: NodeJS.Timeout | undefined;
  #registered = false;
  #left = false;
  /** Why the last round failed (Redis unreachable, id held by another node); undefined when it did not. */
  #problem: string | undefined;
  #members: readonly MemberRecord[] = [];
  #syncing: Promise<void> | undefined;
  #again = false;
  /** Reconnect after Redis is lost (set once the node has reached it at start, or from the start if optional). */
  #reconnect = false;

  private constructor(options: MembershipOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? 3000;
    if (!(Number.isInteger(this.#ttlMs) && this.#ttlMs >= 300)) throw new RangeError(`ttlMs must be an integer ≥ 300, got ${this.#ttlMs}`);
    this.#key = NODE_KEY_PREFIX + options.info.node;
    // Fail fast while disconnected (no offline queue): a renewal that cannot reach Redis must not pile up.
    const settings = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 };
    // A start that must reach Redis does not retry: the node refuses at once and leaves no reconnect timer.
    const retryStrategy = (attempt: number): number | null => (this.#reconnect || options.optional ? Math.min(attempt * 100, 1000) : null);
    this.#redis = new Redis(options.redisUrl, { ...settings, retryStrategy });
    // It only ever subscribes: its SUBSCRIBE may wait offline for Redis, and ioredis repeats it on reconnect.
    this.#subscriber = new Redis(options.redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: null, retryStrategy });
    for (const client of [this.#redis, this.#subscriber]) client.on('error', () => {}); // reported by the rounds
  }

  /**
   * Registers this node and starts renewing. Rejects with PLUME_ESTATE_UNAVAILABLE when Redis cannot be
   * reached (unless `optional`), and with PLUME_ENODEID when a live node holds the id: a dead node's key
   * is waited for until its TTL ends, so a node restarted under its old id is not refused.
   */
  static async join(options: MembershipOptions): Promise<Membership> {
    const membership = new Membership(options);
    try {
      await membership.#start();
    } catch (err) {
      membership.#close();
      throw err;
    }
    return membership;
  }

  get registered(): boolean {
    return this.#registered;
  }

  get id(): string {
    return this.#options.info.node;
  }

  /** The other members, as the last round listed them. */
  get members(): readonly MemberRecord[] {
    return this.#members;
  }

  /** The checks /readyz runs: this node is registered, and Redis answers. */
  readiness(): ReadinessCheck[] {
    return [
      { name: 'registered', check: () => this.#registered || `not registered: ${this.#problem ?? 'not yet'}` },
      {
        name: 'redis reachable',
        check: () => this.#redis.status === 'ready' || `Redis at ${this.#options.redisUrl} is ${this.#redis.status}`,
      },
    ];
  }

  /** Deletes the key and announces the leave: the other nodes stop sending calls here. Idempotent. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    clearTimeout(this.#timer);
    const wasRegistered = this.#registered;
    this.#registered = false;
    this.#problem = 'the node has left the cluster';
    if (!wasRegistered) return;
    try {
      await this.#redis.eval(RELEASE, 1, this.#key, this.#token);
      await this.#redis.publish(MEMBERS_CHANNEL, JSON.stringify({ event: 'leave', node: this.id }));
    } catch {
      // Redis is away: the key expires on its own within the TTL.
    }
  }

  /** Leaves, then closes the connections. */
  async close(): Promise<void> {
    await this.leave();
    this.#close();
  }

  async #start(): Promise<void> {
    this.#subscriber.on('message', () => void this.#sync());
    // Subscribing connects; it starts after Redis answered once, so that a refused start leaves no timer behind.
    const subscribe = (): Promise<unknown> => this.#subscriber.subscribe(MEMBERS_CHANNEL);
    try {
      await this.#redis.connect();
    } catch (err) {
      const reason = (err as Error).message;
      if (!this.#options.optional) {
        throw new PlumeError(
          'PLUME_ESTATE_UNAVAILABLE',
          `cannot reach Redis at ${this.#options.redisUrl} (${reason}): start it, fix --redis, or pass --redis-optional to start single-node`,
        );
      }
      subscribe().catch(() => {}); // waits offline for Redis; rejected only if the node stops first
      this.#fail(`Redis at ${this.#options.redisUrl} is unreachable (${reason})`);
      this.#options.log?.(`membership: Redis at ${this.#options.redisUrl} is unreachable: single-node until it is reachable`);
      this.#schedule();
      return;
    }
    this.#reconnect = true;
    await subscribe();
    const deadline = Date.now() + this.#ttlMs + this.#ttlMs / 3;
    while (!(await this.#claim())) {
      if (Date.now() > deadline) {
        throw new PlumeError(
          'PLUME_ENODEID',
          `node id '${this.id}' is in use by another live node (its key ${this.#key} in Redis is renewed): give this node another --node-id`,
          { node: this.id },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, this.#ttlMs / 3));
    }
    this.#registered = true;
    await this.#redis.publish(MEMBERS_CHANNEL, JSON.stringify({ event: 'join', node: this.id }));
    await this.#sync();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#left) return;
    this.#timer = setTimeout(() => void this.#round(), this.#ttlMs / 3);
    this.#timer.unref();
  }

  /** One renewal and one listing; a failure is logged once, and the recovery once. */
  async #round(): Promise<void> {
    try {
      const claimed = await this.#claim();
      if (this.#left) return;
      if (!claimed) {
        this.#registered = false;
        this.#fail(`node id '${this.id}' is now held by another node: this node stays out of the cluster while it is`);
      } else {
        if (this.#problem !== undefined) this.#options.log?.(`membership: registered again as ${this.id} (it was out: ${this.#problem})`);
        this.#problem = undefined;
        if (!this.#registered) await this.#redis.publish(MEMBERS_CHANNEL, JSON.stringify({ event: 'join', node: this.id }));
        this.#registered = true;
      }
      await this.#sync();
    } catch (err) {
      this.#fail(`Redis at ${this.#options.redisUrl} is unreachable (${(err as Error).message})`);
    } finally {
      this.#schedule();
    }
  }

  /** Logs a problem the first time it appears, not at every round it lasts. */
  #fail(problem: string): void {
    if (this.#problem === undefined) {
      this.#options.log?.(
        `membership: ${problem}; serving this node's functions and the peers already linked, membership resumes when it is back`,
      );
    }
    this.#problem = problem;
  }

  async #claim(): Promise<boolean> {
    const record: MemberRecord = {
      ...this.#options.info,
      ...(this.#options.gateway ? { gateway: this.#options.gateway } : {}),
      cores: availableParallelism(),
      freeMemoryBytes: freemem(),
      functions: this.#options.functions(),
      token: this.#token,
      startedAt: this.#startedAt,
    };
    return (await this.#redis.eval(CLAIM, 1, this.#key, JSON.stringify(record), this.#token, String(this.#ttlMs))) === 1;
  }

  /** Lists the members again; calls during a listing make one more listing after it, not one each. */
  #sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      do {
        this.#again = false;
        const members = await this.#list();
        if (this.#left) return;
        this.#members = members;
        await this.#options.onMembers?.(members);
      } while (this.#again);
    })()
      .catch(() => {}) // the next round tries again; a lost Redis is reported by the renewal
      .finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #list(): Promise<MemberRecord[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', `${NODE_KEY_PREFIX}*`, 'COUNT', 200);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(keys);
    const members: MemberRecord[] = [];
    for (const value of values) {
      const record = parseRecord(value);
      if (record && record.node !== this.id) members.push(record);
    }
    return members.sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  #close(): void {
    clearTimeout(this.#timer);
    this.#left = true;
    this.#redis.disconnect();
    this.#subscriber.disconnect();
  }
}

/** A member's record, or undefined for a value that is not one (it is skipped, never linked to). */
function parseRecord(value: string | null): MemberRecord | undefined {
  if (value === null) return undefined;
  try {
    const r = JSON.parse(value) as Partial<MemberRecord>;
    const ok =
      typeof r.node === 'string' &&
      typeof r.host === 'string' &&
      typeof r.local === 'string' &&
      typeof r.networked === 'string' &&
      Number.isInteger(r.workers) &&
      r.workers! > 0 &&
      typeof r.token === 'string' &&
      Array.isArray(r.functions);
    return ok ? (r as MemberRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Durable async calls on Redis (docs/cluster.md, "Durable async calls"). Accepting a call is one Lua script:
 * XADD to the stream `plume:cluster:async` and a pending record `plume:cluster:async:result:<id>`, both
 * before the 202, so an accepted call is in Redis before the caller hears of it. Every node reads the
 * stream through the consumer group `plume` (XREADGROUP, its node id as consumer, no more entries than it
 * has room for). A node renews its claim on the entries it runs (XCLAIM JUSTID, only while it still owns
 * them); an entry whose claim is not renewed for `visibilityMs` — its node died — is taken over by another
 * node with XAUTOCLAIM. An entry is XACKed and XDELed only once its result is stored and its callback
 * delivered or dead-lettered, so neither is lost with a node.
 *
 * The stream is bounded without dropping accepted work: settled entries are deleted (XDEL), and accept
 * refuses (429) when `maxBacklog` entries wait. MAXLEN trimming was not used: it drops the oldest entries
 * whether or not they ran.
 */
import { Redis } from 'ioredis';
import { PlumeError } from '../errors.ts';
import {
  boundOutcome,
  recordBytes,
  resolveBounds,
  type AsyncBounds,
  type AsyncJob,
  type AsyncQueue,
  type Begun,
  type CallOutcome,
  type CallRecord,
  type CallState,
  type DeadLetter,
  type JobHandler,
  type ResolvedBounds,
} from './async-queue.ts';
import { ASYNC_SCRIPTS, type AsyncScriptCommands } from './async-queue-scripts.ts';

export const STREAM = 'plume:cluster:async';
export const GROUP = 'plume';
const RESULT = 'plume:cluster:async:result:';
const INDEX = 'plume:cluster:async:results';
const SIZES = 'plume:cluster:async:sizes';
const TOTAL = 'plume:cluster:async:bytes';
const BACKLOG_BYTES = 'plume:cluster:async:backlog-bytes';
export const FAILED = 'plume:cluster:async:failed';
const LISTED = ['function', 'state', 'status', 'error', 'callback', 'node', 'runs', 'acceptedAt', 'finishedAt'];

export interface RedisAsyncQueueOptions extends AsyncBounds {
  readonly url: string;
  /** This node's consumer name in the group (unique per process). */
  readonly node: string;
  /** A claim not renewed for this long is taken over by another node; default 30 s. */
  readonly visibilityMs?: number;
  /** Entries in the stream (waiting or running) before accept answers 429; default 100,000. */
  readonly maxBacklog?: number;
  /** Input bytes in the stream before accept answers 429; default 256 MiB. */
  readonly maxBacklogBytes?: number;
  /** How long a pending record lives before it is collected; default 24 h. */
  readonly pendingTtlMs?: number;
  /** Told once per outage when Redis goes away, and when it is back. */
  readonly onConnection?: (up: boolean, error?: Error) => void;
}

type Client = Redis & AsyncScriptCommands;

interface Entry {
  readonly entryId: string;
  readonly job: AsyncJob;
}

export class RedisAsyncQueue implements AsyncQueue {
  readonly durable = true;
  readonly bounds: ResolvedBounds;
  readonly #node: string;
  readonly #visibilityMs: number;
  readonly #maxBacklog: number;
  readonly #maxBacklogBytes: number;
  readonly #pendingTtlMs: number;
  readonly #client: Client;
  /** XREADGROUP BLOCK holds its connection: it gets its own. */
  readonly #reader: Redis;
  /** Entries this node runs, by stream entry id. */
  readonly #inflight = new Map<string, Promise<void>>();
  #closed = false;
  #timers: NodeJS.Timeout[] = [];
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #claimCursor = '0-0';
  #up: boolean | undefined;

  constructor(options: RedisAsyncQueueOptions) {
    this.bounds = resolveBounds(options);
    this.#node = options.node;
    this.#visibilityMs = options.visibilityMs ?? 30_000;
    this.#maxBacklog = options.maxBacklog ?? 100_000;
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 256 * 1024 * 1024;
    this.#pendingTtlMs = options.pendingTtlMs ?? 24 * 3600_000;
    for (const [name, v] of Object.entries({
      visibilityMs: this.#visibilityMs,
      maxBacklog: this.#maxBacklog,
      maxBacklogBytes: this.#maxBacklogBytes,
    })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`async ${name} must be a positive integer, got ${String(v)}`);
    }
    const common = {
      lazyConnect: true,
      // Fail at once while Redis is away (503), instead of queueing an accept that may never be stored.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 5000,
      retryStrategy: (attempt: number) => Math.min(attempt * 50, 1000),
      disconnectTimeout: 100,
    };
    this.#client = new Redis(options.url, { ...common, commandTimeout: 5000 }) as Client;
    for (const [name, script] of Object.entries(ASYNC_SCRIPTS)) this.#client.defineCommand(name, script);
    this.#reader = new Redis(options.url, common);
    const report = (up: boolean, error?: Error): void => {
      if (this.#up === up || this.#closed) return;
      this.#up = up;
      options.onConnection?.(up, error);
    };
    this.#client.on('ready', () => report(true));
    this.#client.on('error', (err: Error) => report(false, err));
    this.#reader.on('error', () => {});
  }

  async accept(job: AsyncJob): Promise<void> {
    const ok = await this.#run((c) =>
      c.plumeAsyncAccept(
        STREAM,
        RESULT + job.id,
        BACKLOG_BYTES,
        this.#maxBacklog,
        job.id,
        job.function,
        Buffer.from(job.input.buffer, job.input.byteOffset, job.input.byteLength),
        job.callbackUrl ?? '',
        job.acceptedAt,
        this.#pendingTtlMs,
        this.#maxBacklogBytes,
      ),
    );
    if (ok !== 1) {
      throw new PlumeError(
        'PLUME_EBUSY',
        `the async queue is full (at most ${this.#maxBacklog} calls or ${this.#maxBacklogBytes} input bytes not yet finished): retry later`,
        { retryAfterS: 1 },
      );
    }
  }

  async get(id: string): Promise<CallRecord | undefined> {
    const h = await this.#run((c) => c.hgetallBuffer(RESULT + id));
    return Object.keys(h).length ? recordOf(id, h) : undefined;
  }

  async begin(job: AsyncJob, node: string): Promise<Begun> {
    const runs = await this.#run((c) => c.plumeAsyncBegin(RESULT + job.id, node, job.function, job.acceptedAt, this.#pendingTtlMs));
    if (runs !== -1) return { finished: undefined, runs };
    const finished = await this.get(job.id);
    return { finished, runs: finished?.runs ?? 0 };
  }

  async finish(job: AsyncJob, node: string, outcome: CallOutcome): Promise<CallRecord> {
    const kept = boundOutcome(job.function, outcome, this.bounds.maxResultBytes);
    const ok = 'output' in kept;
    const now = Date.now();
    await this.#run((c) =>
      c.plumeAsyncFinish(
        RESULT + job.id,
        INDEX,
        SIZES,
        TOTAL,
        job.id,
        ok ? 'done' : 'failed',
        kept.status,
        ok ? Buffer.from(kept.output.buffer, kept.output.byteOffset, kept.output.byteLength) : '',
        ok ? '' : JSON.stringify(kept.error),
        node,
        now,
        this.bounds.ttlMs,
        this.bounds.maxTotalBytes,
        RESULT,
        recordBytes(kept),
        this.bounds.maxResults,
        job.function,
        now + this.bounds.ttlMs,
      ),
    );
    return (await this.get(job.id))!;
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.#run((c) =>
      c
        .multi()
        .lpush(FAILED, JSON.stringify(letter))
        .ltrim(FAILED, 0, this.bounds.maxDeadLetters - 1)
        .exec(),
    );
  }

  async failed(limit = 100): Promise<DeadLetter[]> {
    const list = await this.#run((c) => c.lrange(FAILED, 0, limit - 1));
    return list.map((s) => JSON.parse(s) as DeadLetter);
  }

  async recent(limit = 100): Promise<CallRecord[]> {
    const ids = await this.#run((c) => c.zrevrange(INDEX, 0, limit - 1));
    const pipeline = this.#client.pipeline();
    // Every field but the output: a listing never carries result bytes.
    for (const id of ids) pipeline.hmget(RESULT + id, ...LISTED);
    const rows = ids.length ? ((await this.#run(() => pipeline.exec())) ?? []) : [];
    const out: CallRecord[] = [];
    rows.forEach(([err, values], i) => {
      const hash: Record<string, Buffer> = {};
      (values as (string | null)[]).forEach((v, j) => v !== null && (hash[LISTED[j]!] = Buffer.from(v)));
      if (!err && hash['state']) out.push({ ...recordOf(ids[i]!, hash), output: undefined });
    });
    return out;
  }

  consume(handler: JobHandler, capacity: () => number): void {
    const tick = Math.max(50, Math.floor(this.#visibilityMs / 3));
    // Renewing a claim at a third of the visibility timeout leaves two renewals' slack before a live
    // node's call looks abandoned.
    this.#timers.push(setInterval(() => void this.#renew().catch(() => {}), tick));
    this.#timers.push(setInterval(() => void this.#reclaim(handler, capacity).catch(() => {}), tick));
    this.#loop = this.#read(handler, capacity);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#wake?.();
    this.#reader.disconnect();
    await this.#loop;
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight.values()]);
    this.#client.disconnect();
  }

  async #read(handler: JobHandler, capacity: () => number): Promise<void> {
    await this.#ensureGroup().catch(() => {});
    let failures = 0;
    while (!this.#closed) {
      const free = capacity() - this.#inflight.size;
      if (free <= 0) {
        await new Promise<void>((woken) => {
          this.#wake = woken;
          setTimeout(woken, 200);
        });
        continue;
      }
      try {
        if (this.#reader.status === 'wait') await this.#reader.connect();
        const reply = (await this.#reader.callBuffer(
          'XREADGROUP',
          'GROUP',
          GROUP,
          this.#node,
          'COUNT',
          free,
          'BLOCK',
          1000,
          'STREAMS',
          STREAM,
          '>',
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        failures = 0;
        for (const [, entries] of reply ?? []) for (const e of entries) this.#dispatch(entryOf(e), handler);
      } catch (err) {
        if (this.#closed) break;
        if (String((err as Error).message).includes('NOGROUP')) await this.#ensureGroup().catch(() => {});
        // Redis away: try again at most a second apart, as the clients reconnect.
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** failures++)));
      }
    }
  }

  /** Take over entries whose claim has not been renewed for the visibility timeout: their node is gone. */
  async #reclaim(handler: JobHandler, capacity: () => number): Promise<void> {
    const free = capacity() - this.#inflight.size;
    if (this.#closed || free <= 0) return;
    const reply = (await this.#client.callBuffer(
      'XAUTOCLAIM',
      STREAM,
      GROUP,
      this.#node,
      this.#visibilityMs,
      this.#claimCursor,
      'COUNT',
      free,
    )) as [Buffer, ([Buffer, Buffer[]] | null)[]];
    this.#claimCursor = reply[0].toString();
    for (const e of reply[1]) if (e) this.#dispatch(entryOf(e), handler);
  }

  /** Reset the idle time of the entries this node still owns, so no other node takes them over. */
  async #renew(): Promise<void> {
    if (!this.#inflight.size) return;
    await this.#client.plumeAsyncRenew(STREAM, GROUP, this.#node, ...this.#inflight.keys());
  }

  #dispatch(entry: Entry, handler: JobHandler): void {
    if (this.#inflight.has(entry.entryId)) return;
    const work = (async () => {
      try {
        await handler(entry.job);
        await this.#client.plumeAsyncSettle(STREAM, BACKLOG_BYTES, GROUP, entry.entryId, entry.job.input.length);
      } catch {
        // Not settled (Redis went away mid-call): the claim lapses and a node runs it again.
      } finally {
        this.#inflight.delete(entry.entryId);
        this.#wake?.();
      }
    })();
    this.#inflight.set(entry.entryId, work);
  }

  async #ensureGroup(): Promise<void> {
    try {
      await this.#client.xgroup('CREATE', STREAM, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** Run a command; any failure to reach Redis becomes 503 PLUME_ESTATE_UNAVAILABLE. */
  async #run<T>(command: (c: Client) => Promise<T>): Promise<T> {
    if (this.#closed) throw new PlumeError('PLUME_ECLOSED', 'the async queue is closed');
    try {
      if (this.#client.status === 'wait') await this.#client.connect();
      return await command(this.#client);
    } catch (err) {
      // A reply Redis sent (a script error) is a bug to see as it is, not an outage.
      if (err instanceof PlumeError || (err as Error).name === 'ReplyError') throw err;
      throw new PlumeError('PLUME_ESTATE_UNAVAILABLE', `the async queue in Redis cannot be reached: ${(err as Error).message}`, {
        retryAfterS: 1,
      });
    }
  }
}

function entryOf([id, fields]: [Buffer, Buffer[]]): Entry {
  const f = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!.toString(), fields[i + 1]!);
  const cb = f.get('cb')?.toString();
  return {
    entryId: id.toString(),
    job: {
      id: f.get('id')!.toString(),
      function: f.get('fn')!.toString(),
      input: new Uint8Array(f.get('input') ?? Buffer.alloc(0)),
      callbackUrl: cb ? cb : undefined,
      acceptedAt: Number(f.get('at')),
    },
  };
}

function recordOf(id: string, h: Record<string, Buffer>): CallRecord {
  const s = (k: string): string | undefined => h[k]?.toString();
  const error = s('error');
  const state = (s('state') ?? 'pending') as CallState;
  const finished = state === 'done' || state === 'failed';
  return {
    id,
    function: s('function') ?? '',
    state,
    status: Number(s('status') ?? 202),
    output: state === 'done' ? new Uint8Array(h['output'] ?? Buffer.alloc(0)) : undefined,
    error: error ? (JSON.parse(error) as CallRecord['error']) : undefined,
    callbackUrl: s('callback') || undefined,
    node: s('node') || undefined,
    runs: Number(s('runs') ?? 0),
    acceptedAt: Number(s('acceptedAt') ?? 0),
    finishedAt: finished ? Number(s('finishedAt')) : undefined,
  };
}

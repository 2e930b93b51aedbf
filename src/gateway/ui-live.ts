/**
 * The dashboard's live trace stream (`GET /ui/api/live`, Server-Sent Events). It listens to the runtime's
 * diagnostics_channel events only while a dashboard is open, and does as little per event as it can: one
 * timestamp and one push onto a bounded array (past its bound, one increment). A timer turns what gathered
 * into one JSON frame, serialized once for every client. A slow client is never waited for: while its socket holds more than
 * `maxClientBytes` unsent, its frames are dropped and counted, and it is told how many it missed.
 */
import type { ServerResponse } from 'node:http';
import { events, type InvocationEvent, type WorkflowEvent } from '../events.ts';

export interface LiveFeedOptions {
  /** How often gathered events go out; default 250 ms (four frames a second, smooth enough for a waterfall). */
  readonly flushMs?: number;
  /**
   * Invocation events one frame carries; past it they are only counted (the page shows how many it did not
   * get). Default 256: 1,024 a second at the default flushMs, more rows than anyone reads, and a ceiling on
   * the stream's work however busy the node is. Workflow runs have their own allowance (64 a frame), so a
   * flood of calls never hides them.
   */
  readonly maxPending?: number;
  /** Unsent bytes a client may hold before its frames are dropped; default 1 MiB. */
  readonly maxClientBytes?: number;
}

/** A workflow's steps and edges beyond these are left out of its live row (a huge map step stays cheap). */
const MAX_STEPS = 64;
const MAX_RUNS_PER_FRAME = 64;
const MAX_EDGES = 128;
/** A comment line this often keeps proxies and the browser from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

type Pending = { readonly at: number; readonly invocation: InvocationEvent } | { readonly at: number; readonly workflow: WorkflowEvent };

interface Client {
  dropped: number;
}

export class LiveFeed {
  readonly #flushMs: number;
  readonly #maxPending: number;
  readonly #maxClientBytes: number;
  readonly #clients = new Map<ServerResponse, Client>();
  #pending: Pending[] = [];
  #runs = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastWrite = 0;
  // Over its allowance an event costs one increment: no timestamp, no push.
  readonly #onInvocation = (message: unknown): void => {
    if (this.#pending.length - this.#runs < this.#maxPending)
      this.#pending.push({ at: Date.now(), invocation: message as InvocationEvent });
    else this.#dropped++;
  };
  readonly #onWorkflow = (message: unknown): void => {
    if (this.#runs >= MAX_RUNS_PER_FRAME) {
      this.#dropped++;
      return;
    }
    this.#runs++;
    this.#pending.push({ at: Date.now(), workflow: message as WorkflowEvent });
  };

  constructor(options: LiveFeedOptions = {}) {
    this.#flushMs = options.flushMs ?? 250;
    this.#maxPending = options.maxPending ?? 256;
    this.#maxClientBytes = options.maxClientBytes ?? 1024 * 1024;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Start streaming to `res` (its headers not yet sent); it leaves when its connection closes. */
  add(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Proxies that buffer responses (nginx) would hold the frames back.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.#clients.set(res, { dropped: 0 });
    res.on('close', () => this.#remove(res));
    if (this.#clients.size === 1) this.#start();
  }

  /** End every stream (the gateway is closing: an open stream would hold its close forever). */
  close(): void {
    for (const res of [...this.#clients.keys()]) res.end();
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    events.invocation.subscribe(this.#onInvocation);
    events.workflow.subscribe(this.#onWorkflow);
    this.#timer = setInterval(() => this.#flush(), this.#flushMs);
    this.#timer.unref();
  }

  #stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    events.invocation.unsubscribe(this.#onInvocation);
    events.workflow.unsubscribe(this.#onWorkflow);
    this.#pending = [];
    this.#runs = 0;
    this.#dropped = 0;
  }

  #remove(res: ServerResponse): void {
    if (this.#clients.delete(res) && this.#clients.size === 0) this.#stop();
  }

  #flush(): void {
    const now = Date.now();
    if (this.#pending.length === 0 && this.#dropped === 0) {
      // Nothing new: still tell a client that has caught up what it missed, else keep the stream alive.
      if (this.#owed()) this.#broadcast('[]', 0);
      else if (now - this.#lastWrite >= KEEPALIVE_MS) this.#broadcast(null, 0);
      return;
    }
    const batch = this.#pending;
    const dropped = this.#dropped;
    this.#pending = [];
    this.#runs = 0;
    this.#dropped = 0;
    this.#broadcast(JSON.stringify(batch.map(compact)), batch.length, dropped);
  }

  #owed(): boolean {
    for (const client of this.#clients.values()) if (client.dropped > 0) return true;
    return false;
  }

  /**
   * Send one frame of `count` events (`body`, their JSON; null for a keep-alive comment) to every client with
   * room; a client without room misses it, and the next frame it gets says how many events it missed.
   */
  #broadcast(body: string | null, count: number, dropped = 0): void {
    this.#lastWrite = Date.now();
    for (const [res, client] of this.#clients) {
      if (res.writableLength > this.#maxClientBytes) {
        client.dropped += count + dropped;
        continue;
      }
      if (body === null) {
        res.write(': keep-alive\n\n');
        continue;
      }
      const missed = client.dropped + dropped;
      if (count === 0 && missed === 0) continue;
      res.write(`event: batch\ndata: {"dropped":${missed},"events":${body}}\n\n`);
      client.dropped = 0;
    }
  }
}

/** The few fields a waterfall row needs; a workflow's hops without its per-call records. */
function compact(p: Pending): object {
  if ('invocation' in p) {
    const e = p.invocation;
    return { kind: 'call', at: p.at, function: e.function, code: e.code, ms: e.ms, queuedMs: e.queuedMs, cold: e.cold };
  }
  const e = p.workflow;
  const steps = e.trace?.steps ?? [];
  const edges = e.trace?.edges ?? [];
  return {
    kind: 'workflow',
    at: p.at,
    workflow: e.workflow,
    code: e.code,
    ms: e.ms,
    steps: steps.slice(0, MAX_STEPS).map((s) => ({
      id: s.id,
      function: s.function,
      status: s.status,
      startMs: s.startMs,
      endMs: s.endMs,
      node: s.node,
      attempts: s.attempts,
    })),
    edges: edges.slice(0, MAX_EDGES).map((d) => ({
      from: d.from,
      to: d.to,
      mode: d.mode,
      bytesMoved: d.bytesMoved,
      bytesCopied: d.bytesCopied,
    })),
    more: Math.max(0, steps.length - MAX_STEPS) + Math.max(0, edges.length - MAX_EDGES),
  };
}

/**
 * The `process-per-function` case with a real keep-alive policy, as Knative, OpenWhisk or Azure Functions
 * run a function: each instance is its own Node process (ppf-instance.ts) taking `concurrency` calls at
 * once (default 10, a Knative `containerConcurrency`; 1 is Lambda's and OpenWhisk's); a call that finds every warm instance of its function busy
 * starts a new one (scale-out: a cold start, which the call waits for); an instance idle for the
 * keep-alive window (10 minutes of trace time, Azure's and Knative's default, compressed by the speedup)
 * is stopped (scale to zero). Calls from instances to successors come back through this router, so a
 * chain's every hop is placed by the same policy. At most `maxInstances` processes run at once; past it a
 * call waits for an instance of its function to free.
 */
import type { Server } from 'node:http';
import { serve } from './serve.ts';
import { startChild, stopChild, type Child } from './child.ts';
import type { Meter } from './meter.ts';

export interface PpfOptions {
  readonly module: string;
  readonly keepAliveMs: number;
  readonly concurrency?: number;
  readonly maxInstances?: number;
}

interface Instance {
  /** Resolves once the process listens; calls that find it starting wait for it (a cold start each). */
  readonly ready: Promise<Child>;
  child: Child | undefined;
  busy: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export class ProcessPerFunction {
  readonly #opts: Required<PpfOptions>;
  readonly #instances = new Map<string, Instance[]>();
  readonly #waiting = new Map<string, (() => void)[]>();
  readonly #live = new Set<Child>();
  #starting = 0;
  #server: Server | undefined;
  #router = '';
  #meter: Meter | undefined;
  #closed = false;
  /** Calls that waited for an instance to start. */
  cold = 0;
  /** Instances started (processes). */
  started = 0;
  calls = 0;

  constructor(opts: PpfOptions) {
    this.#opts = { concurrency: 10, maxInstances: 64, ...opts };
  }

  async start(): Promise<void> {
    const { server, port } = await serve((path, body) => this.invoke(decodeURIComponent(path.slice('/call/'.length)), body));
    this.#server = server;
    this.#router = `http://127.0.0.1:${port}`;
  }

  /** Where calls go: `POST {router}/call/NAME`. */
  get router(): string {
    return this.#router;
  }

  /** The meter reads each instance once more before it is stopped. */
  measureWith(meter: Meter): void {
    this.#meter = meter;
  }

  pids(): number[] {
    return [...this.#live].map((c) => c.pid);
  }

  async invoke(fn: string, input: Uint8Array): Promise<Uint8Array> {
    this.calls++;
    const inst = await this.#acquire(fn);
    try {
      const res = await fetch(`${inst.child!.url}/`, { method: 'POST', body: input as Uint8Array<ArrayBuffer> });
      const out = new Uint8Array(await res.arrayBuffer());
      if (!res.ok) throw new Error(`${fn} answered ${res.status}: ${new TextDecoder().decode(out)}`);
      return out;
    } finally {
      this.#release(fn, inst);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#server?.close();
    this.#server?.closeAllConnections();
    for (const list of this.#instances.values()) list.forEach((i) => clearTimeout(i.idleTimer));
    await Promise.all([...this.#live].map((c) => this.#stop(c)));
    this.#instances.clear();
  }

  /**
   * A free slot on a warm instance; else one on an instance still starting (as Knative's activator holds
   * requests for a pod coming up rather than starting one per request); else a new instance. A call that
   * waits for a start is a cold start.
   */
  async #acquire(fn: string): Promise<Instance> {
    for (;;) {
      const list = this.#instances.get(fn) ?? [];
      const free = list.find((i) => i.child && i.busy < this.#opts.concurrency) ?? list.find((i) => i.busy < this.#opts.concurrency);
      if (free) {
        free.busy++;
        clearTimeout(free.idleTimer);
        if (!free.child) {
          this.cold++;
          await free.ready;
        }
        return free;
      }
      if (this.#live.size + this.#starting < this.#opts.maxInstances) {
        this.cold++;
        this.started++;
        this.#starting++;
        const ready = startChild('./ppf-instance.ts', { name: fn, module: this.#opts.module, router: this.#router });
        const inst: Instance = { ready, child: undefined, busy: 1, idleTimer: undefined };
        this.#instances.set(fn, [...list, inst]);
        try {
          inst.child = await ready;
        } catch (err) {
          this.#instances.set(
            fn,
            (this.#instances.get(fn) ?? []).filter((i) => i !== inst),
          );
          throw err;
        } finally {
          this.#starting--;
        }
        this.#live.add(inst.child);
        if (this.#closed) void this.#stop(inst.child);
        return inst;
      }
      // Every process slot is taken: wait for an instance of this function to free (or any to stop).
      await new Promise<void>((resolve) => this.#waiting.set(fn, [...(this.#waiting.get(fn) ?? []), resolve]));
    }
  }

  #release(fn: string, inst: Instance): void {
    inst.busy--;
    const next = this.#waiting.get(fn)?.shift();
    if (next) return next();
    if (inst.busy === 0 && !this.#closed) inst.idleTimer = setTimeout(() => this.#expire(fn, inst), this.#opts.keepAliveMs);
  }

  #expire(fn: string, inst: Instance): void {
    if (inst.busy > 0) return;
    this.#instances.set(
      fn,
      (this.#instances.get(fn) ?? []).filter((i) => i !== inst),
    );
    if (inst.child) void this.#stop(inst.child);
    // A process slot freed: a call of another function waiting for one may start its instance now.
    for (const [, waiters] of this.#waiting) waiters.shift()?.();
  }

  async #stop(child: Child): Promise<void> {
    this.#meter?.final(child.pid);
    await stopChild(child.process);
    this.#live.delete(child);
  }
}

/**
 * The `process-per-function` case: every function of a pipeline in its own Node process (step-server.ts)
 * behind HTTP, each intermediate payload through Redis — how Knative or OpenFaaS run a chain whose steps
 * hand data over through a store. One call: the coordinator writes the input to Redis, POSTs the keys to
 * the step's process, which reads the input, runs, and writes its output; the coordinator reads the output
 * back (it needs the bytes: the reference chain joins outputs into lists for the next step).
 *
 * `restart(fn)` is a cold start: a new process for the step (Node start-up, compile, snapshot, model
 * sessions) takes the step's traffic once it is ready; the old one finishes its calls and is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { modelPaths, stepFunctions, type Invoke, type Pipeline, type StepFunction } from './pipeline.ts';
import type { StepServerConfig } from './step-server.ts';
import { readyPort, stopChild } from '../trace/child.ts';

const STEP_SERVER = fileURLToPath(new URL('./step-server.ts', import.meta.url));
const READY_MS = 120_000;
const TTL_MS = 60_000;

interface StepProcess {
  readonly child: ChildProcess;
  readonly url: string;
  inflight: number;
  /** Set when a newer process took over: called once the last call in flight has finished. */
  onIdle?: () => void;
}

export class ProcessChain {
  readonly #redis: Redis;
  readonly #redisUrl: string;
  readonly #functions: Record<string, StepFunction>;
  readonly #pipeline: Pipeline;
  readonly #procs = new Map<string, StepProcess>();
  readonly #all = new Set<ChildProcess>();
  readonly #killAll = (): void => this.#all.forEach((c) => c.kill('SIGKILL'));
  #calls = 0;

  private constructor(pipeline: Pipeline, redisUrl: string) {
    this.#redisUrl = redisUrl;
    this.#redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.#pipeline = pipeline;
    this.#functions = stepFunctions(pipeline);
    // A benchmark that dies must not leave its step processes behind.
    process.once('exit', this.#killAll);
  }

  /** Starts one process per function of the pipeline's spec and waits until all are ready. */
  static async start(pipeline: Pipeline, redisUrl: string): Promise<ProcessChain> {
    const chain = new ProcessChain(pipeline, redisUrl);
    try {
      await Promise.all(Object.keys(chain.#functions).map(async (fn) => chain.#procs.set(fn, await chain.#spawn(fn))));
    } catch (err) {
      await chain.close();
      throw err;
    }
    return chain;
  }

  get functions(): string[] {
    return Object.keys(this.#functions);
  }

  readonly invoke: Invoke = async (fn, input) => {
    if (!this.#procs.has(fn)) throw new Error(`process-per-function: no process runs '${fn}'`);
    const key = `ppf:${++this.#calls}`;
    const keys = { in: `${key}:in`, out: `${key}:out` };
    await this.#redis.set(keys.in, Buffer.from(input.buffer, input.byteOffset, input.byteLength), 'PX', TTL_MS);
    // Taken and counted in one go: a restart in between must not stop the process this call is sent to.
    const proc = this.#procs.get(fn)!;
    proc.inflight++;
    try {
      const res = await fetch(proc.url, { method: 'POST', body: JSON.stringify(keys) });
      if (!res.ok) throw new Error(`process-per-function: ${fn} answered ${res.status}: ${await res.text()}`);
    } finally {
      if (--proc.inflight === 0) proc.onIdle?.();
    }
    const output = await this.#redis.getBuffer(keys.out);
    void this.#redis.del(keys.in, keys.out).catch(() => {});
    if (!output) throw new Error(`process-per-function: ${fn} left no output under '${keys.out}'`);
    return new Uint8Array(output.buffer, output.byteOffset, output.byteLength);
  };

  /** A cold start of `fn`: resolves once a new process serves it; the old one drains and stops. */
  async restart(fn: string): Promise<void> {
    const fresh = await this.#spawn(fn);
    const old = this.#procs.get(fn);
    this.#procs.set(fn, fresh);
    if (!old) return;
    if (old.inflight === 0) void stopChild(old.child);
    else old.onIdle = () => void stopChild(old.child);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#all].map((c) => stopChild(c)));
    this.#procs.clear();
    process.removeListener('exit', this.#killAll);
    await this.#redis.quit().catch(() => {});
  }

  async #spawn(fn: string): Promise<StepProcess> {
    const step = this.#functions[fn]!;
    const config: StepServerConfig = {
      name: fn,
      fn: step,
      models: modelPaths(this.#pipeline, step.models),
      redisUrl: this.#redisUrl,
      ttlMs: TTL_MS,
    };
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', STEP_SERVER, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#all.add(child);
    child.once('exit', () => this.#all.delete(child));
    // Loading the step's ONNX models may take long on a busy machine: READY_MS, not the default.
    const port = await readyPort(child, `process-per-function: the process for '${fn}'`, undefined, READY_MS);
    return { child, url: `http://127.0.0.1:${port}/`, inflight: 0 };
  }
}

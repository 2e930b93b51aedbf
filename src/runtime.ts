/**
 * The embedded runtime: the one object an application (or the gateway, or the CLI) holds. It names and
 * versions functions, compiles them once, and hands invocations to the executor.
 */
import { readFile } from 'node:fs/promises';
import { PlumeError } from './errors.ts';
import { defineFunction, ModuleCache, type DeployOptions } from './engine/compile.ts';
import type { FunctionDefinition } from './engine/definition.ts';
import { Executor, type InvocationResult } from './executor/executor.ts';
import { hostInterfaces } from './host/index.ts';
import { LogLevelNames, type LogLevel } from './host/interface.ts';
import { createStateBackend } from './state/index.ts';
import { StateService } from './state/service.ts';

export interface PlumeOptions {
  /** Worker threads; default one per core. */
  readonly workers?: number;
  /** Log lines kept per function. */
  readonly logLines?: number;
  /** Also print guest logs to this stream (the CLI passes stderr). */
  readonly logTo?: NodeJS.WritableStream;
  /** The global state tier: a Redis URL, or the in-process memory backend when absent. */
  readonly redisUrl?: string;
}

export interface FunctionInfo {
  readonly name: string;
  readonly version: number;
  readonly kind: 'reactor' | 'command';
  readonly stateful: boolean;
  readonly snapshotBytes: number;
  readonly memoryMaxPages: number;
}

export interface LogLine {
  readonly time: number;
  readonly level: (typeof LogLevelNames)[number];
  readonly message: string;
}

interface Deployed {
  current: FunctionDefinition;
  readonly logs: LogLine[];
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const encoder = new TextEncoder();

export class Plume {
  readonly #executor: Executor;
  readonly #cache = new ModuleCache();
  readonly #functions = new Map<string, Deployed>();
  /** In-flight invocations per version: a replaced version is dropped from the workers when it reaches 0. */
  readonly #inflight = new Map<number, number>();
  readonly #retired = new Set<number>();
  readonly #options: PlumeOptions;
  #nextId = 1;

  readonly #state: StateService;

  private constructor(options: PlumeOptions) {
    this.#options = options;
    this.#state = new StateService(createStateBackend(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }));
    this.#executor = new Executor({
      state: this.#state,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      onLog: (fn, level, message) => this.#log(fn, level, message),
    });
  }

  static async start(options: PlumeOptions = {}): Promise<Plume> {
    const plume = new Plume(options);
    await plume.#executor.ready();
    return plume;
  }

  get workers(): number {
    return this.#executor.workers;
  }

  /** Deploy a module (bytes or a path) under a name. Deploying a name again makes a new version. */
  async deploy(name: string, module: Uint8Array | string, options: DeployOptions = {}): Promise<FunctionInfo> {
    if (!NAME.test(name)) throw new TypeError(`function name must match ${NAME}, got '${name}'`);
    const bytes = typeof module === 'string' ? await readModule(module) : module;
    const compiled = this.#cache.compile(bytes);
    const previous = this.#functions.get(name);
    const ids = { id: this.#nextId++, name, version: (previous?.current.version ?? 0) + 1 };
    const def = await this.#executor.register(defineFunction(compiled, ids, options, hostInterfaces));
    if (previous) this.#retire(previous.current.id);
    this.#functions.set(name, { current: def, logs: previous?.logs ?? [] });
    return info(def);
  }

  async invoke(name: string, input: Uint8Array | string = new Uint8Array(0)): Promise<Uint8Array> {
    const result = await this.invokeDetailed(name, input);
    if (result.exitCode) {
      throw new PlumeError('PLUME_EEXIT', `function '${name}' exited with code ${result.exitCode}`, {
        function: name,
        exitCode: result.exitCode,
      });
    }
    return result.output;
  }

  /** Like invoke, but a WASI command's non-zero exit code is returned, not thrown. */
  async invokeDetailed(name: string, input: Uint8Array | string = new Uint8Array(0)): Promise<InvocationResult> {
    const def = this.#lookup(name).current;
    const bytes = typeof input === 'string' ? encoder.encode(input) : input;
    this.#inflight.set(def.id, (this.#inflight.get(def.id) ?? 0) + 1);
    try {
      return await this.#executor.invoke(def.id, bytes);
    } finally {
      const left = this.#inflight.get(def.id)! - 1;
      this.#inflight.set(def.id, left);
      if (left === 0 && this.#retired.has(def.id)) this.#drop(def.id);
    }
  }

  /**
   * Keep `count` idle instances ready on each worker; returns how many are idle in all. `exercise` runs
   * each new instance once (empty input) and resets it, as instances that have served traffic.
   */
  prewarm(name: string, count: number, options: { exercise?: boolean } = {}): Promise<number> {
    return this.#executor.prewarm(this.#lookup(name).current.id, count, options.exercise ?? false);
  }

  /** Scale a function's idle instances down to `keep` per worker; its snapshot stays, so the next call restores fast. */
  trim(name: string, keep = 0): void {
    this.#executor.trim(this.#lookup(name).current.id, keep);
  }

  list(): FunctionInfo[] {
    return [...this.#functions.values()].map((d) => info(d.current));
  }

  describe(name: string): FunctionInfo {
    return info(this.#lookup(name).current);
  }

  logs(name: string): readonly LogLine[] {
    return this.#lookup(name).logs;
  }

  remove(name: string): void {
    const deployed = this.#lookup(name);
    this.#functions.delete(name);
    this.#retire(deployed.current.id);
  }

  /** The node's state tiers, for the host side (seeding a model, reading results). */
  get state(): StateService {
    return this.#state;
  }

  async close(): Promise<void> {
    await this.#executor.close();
    await this.#state.close();
  }

  #lookup(name: string): Deployed {
    const d = this.#functions.get(name);
    if (!d) throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name });
    return d;
  }

  #retire(id: number): void {
    if ((this.#inflight.get(id) ?? 0) === 0) this.#drop(id);
    else this.#retired.add(id);
  }

  #drop(id: number): void {
    this.#retired.delete(id);
    this.#inflight.delete(id);
    this.#executor.unregister(id);
  }

  #log(fn: string, level: LogLevel, message: string): void {
    const logs = this.#functions.get(fn)?.logs;
    const line: LogLine = { time: Date.now(), level: LogLevelNames[level], message };
    if (logs) {
      logs.push(line);
      if (logs.length > (this.#options.logLines ?? 1000)) logs.shift();
    }
    this.#options.logTo?.write(`[${fn}] ${line.level}: ${message}\n`);
  }
}

function info(def: FunctionDefinition): FunctionInfo {
  return {
    name: def.name,
    version: def.version,
    kind: def.kind,
    stateful: def.stateful,
    snapshotBytes: def.snapshot?.data.byteLength ?? 0,
    memoryMaxPages: def.memoryMaxPages,
  };
}

async function readModule(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new PlumeError('PLUME_EMODULE', `cannot read module '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The embedded runtime: the one object an application (or the gateway, or the CLI) holds. It names and
 * versions functions, compiles them once, and hands invocations to the executor.
 */
import { PlumeError } from './errors.ts';
import { readFileOr } from './read-file.ts';
import { defineFunction, ModuleCache, type DeployOptions } from './engine/compile.ts';
import { inputError } from './engine/instance-pool.ts';
import { NAME, type FunctionDefinition, type Limits } from './engine/definition.ts';
import { Executor, type InvocationResult, type InvokeOptions, type PoolStats } from './executor/executor.ts';
import type { RemoteHop } from './executor/protocol.ts';
import { events } from './events.ts';
import { checkBatchPolicy } from './scheduler/batcher.ts';
import { functionBatcher, type FunctionBatcher } from './scheduler/function-batch.ts';
import { hostInterfaces } from './host/index.ts';
import type { ModelInfo } from './inference/tensor.ts';
import { LogLevelNames, type LogLevel } from './engine/host-interface.ts';
import { createStateBackend } from './state/index.ts';
import { StateService } from './state/service.ts';
import { WorkflowRegistry, type ApplyOptions, type RunOptions, type WorkflowRun } from './workflow/registry.ts';
import type { WorkflowInfo, WorkflowSpec } from './workflow/types.ts';

export interface PlumeOptions {
  /** Worker threads; default one per core. */
  readonly workers?: number;
  /**
   * Memory one worker may hold (its instances' Wasm memories and buffers), in MiB, before calls go to the
   * other workers, and to peers once every worker is over it; default no limit (docs/scheduler.md, Memory).
   */
  readonly workerMemoryMb?: number;
  /** Log lines kept per function. */
  readonly logLines?: number;
  /** Also print guest logs to this stream (the CLI passes stderr). */
  readonly logTo?: NodeJS.WritableStream;
  /** The global state tier: a Redis URL, or the in-process memory backend when absent. */
  readonly redisUrl?: string;
}

/**
 * Functions other nodes serve (the cluster's peer links implement it; docs/dataplane.md, Peers). The
 * runtime turns to it for a name it has not deployed: from a client, a workflow step or a guest's chained call.
 */
export interface RemoteFunctions {
  /** Function name → its input limit, for every function a linked peer serves. */
  readonly catalog: ReadonlyMap<string, number>;
  /** Asks the peers again what they serve (a name this node does not know may have been deployed since). */
  refresh(): Promise<void>;
  /**
   * Runs the function on the peer with the cheapest edge (a local socket before the network). `client`:
   * the outside caller the call is made for, whose token the peer checks; absent, this node's own call.
   */
  invoke(name: string, input: Uint8Array, client?: Client): Promise<{ output: Uint8Array; hop: RemoteHop }>;
  /**
   * The load of the peer that `invoke` would pick for `name`, as this node sees it: its workers, and this
   * node's calls in flight there.
   */
  load(name: string): { readonly workers: number; readonly inflight: number } | undefined;
}

/**
 * Calls in flight per worker at which a call of a function that a peer also serves goes to that peer if it
 * is less loaded (docs/scheduler.md, Spreading to peers): one running and one waiting on every worker.
 * Below it a node keeps its calls, so a chain stays co-located under light load.
 */
export const SPREAD_TO_PEERS_AT = 2;

/** An outside caller (an HTTP request the gateway serves), with its bearer token if it gave one. */
export interface Client {
  readonly token?: string;
}

export interface PlumeInvokeOptions extends InvokeOptions {
  /**
   * Set by the gateway: the call is an outside client's, and if it goes to a peer, the token goes with it
   * and the peer checks it (docs/dataplane.md, Peer security). Absent: the node's own call.
   */
  readonly client?: Client;
}

/** One call of `Plume.invokeMany`. */
export interface InvokeCall {
  readonly name: string;
  readonly input?: Uint8Array | string;
  readonly options?: InvokeOptions;
}

export interface FunctionInfo {
  readonly name: string;
  readonly version: number;
  readonly kind: 'reactor' | 'command';
  readonly stateful: boolean;
  readonly snapshotBytes: number;
  readonly memoryMaxPages: number;
  readonly limits: Limits;
}

export interface LogLine {
  readonly time: number;
  readonly level: (typeof LogLevelNames)[number];
  readonly message: string;
}

interface Deployed {
  current: FunctionDefinition;
  /** The current version's batcher, when it was deployed with `batch`. */
  batcher: FunctionBatcher<InvocationResult> | undefined;
  readonly logs: LogLine[];
}

/** A function's instances and queues, for metrics (docs/scheduler.md). */
export type FunctionStats = PoolStats;

const encoder = new TextEncoder();

export class Plume {
  readonly #executor: Executor;
  readonly #cache = new ModuleCache();
  readonly #functions = new Map<string, Deployed>();
  /** In-flight invocations per version: a replaced version is dropped from the workers when it reaches 0. */
  readonly #inflight = new Map<number, number>();
  readonly #retired = new Set<number>();
  readonly #models = new Map<string, ModelInfo>();
  readonly #options: PlumeOptions;
  #nextId = 1;

  readonly #state: StateService;
  readonly #workflows = new WorkflowRegistry(this);
  #remote: RemoteFunctions | undefined;
  /** Calls running or queued on this node's workers, all functions together (the load spreading reads). */
  #busy = 0;

  private constructor(options: PlumeOptions) {
    this.#options = options;
    this.#state = new StateService(createStateBackend(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }));
    this.#executor = new Executor({
      state: this.#state,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.workerMemoryMb === undefined ? {} : { workerMemoryMb: options.workerMemoryMb }),
      onLog: (fn, level, message) => this.#log(fn, level, message),
      remote: (name, input) => this.#callPeer(name, input),
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

  /**
   * Reach the functions that other nodes serve (src/cluster/links.ts): a name deployed here runs here;
   * any other name that a peer serves runs there, for clients, workflow steps and guests' chained calls.
   * Call `remoteChanged()` whenever `remote.catalog` changes.
   */
  link(remote: RemoteFunctions): void {
    this.#remote = remote;
    this.remoteChanged();
  }

  /** The linked peers' catalog changed: tell the workers, whose guests may call those functions by name. */
  remoteChanged(): void {
    // Names deployed here stay in: the workers resolve a name to their own pools before the peers'.
    this.#executor.setRemoteFunctions(this.#remote?.catalog ?? new Map());
  }

  /** Is a function of this name deployed on this node (not only on a peer)? */
  deployedHere(name: string): boolean {
    return this.#functions.has(name);
  }

  /**
   * For a name not deployed here that a linked peer serves: its input limit, which the gateway applies to
   * the request body (the serving node admits the call); undefined for a name deployed here or unknown.
   */
  peerInputLimit(name: string): number | undefined {
    return this.#functions.has(name) ? undefined : this.#remote?.catalog.get(name);
  }

  /** Is `name` deployed here or served by a linked peer (asked again when not known)? */
  async reachable(name: string): Promise<boolean> {
    if (this.#functions.has(name)) return true;
    if (!this.#remote) return false;
    if (!this.#remote.catalog.has(name)) await this.#remote.refresh();
    return this.#remote.catalog.has(name);
  }

  /** Deploy a module (bytes or a path) under a name. Deploying a name again makes a new version. */
  async deploy(name: string, module: Uint8Array | string, options: DeployOptions = {}): Promise<FunctionInfo> {
    if (!NAME.test(name)) throw new TypeError(`function name must match ${NAME}, got '${name}'`);
    const bytes = typeof module === 'string' ? await readModule(module) : module;
    const compiled = this.#cache.compile(bytes);
    const previous = this.#functions.get(name);
    const ids = { id: this.#nextId++, name, version: (previous?.current.version ?? 0) + 1 };
    const policy = options.batch === undefined ? undefined : checkBatchPolicy(options.batch);
    const def = await this.#executor.register(defineFunction(compiled, ids, options, hostInterfaces));
    if (previous) this.#retire(previous.current.id);
    // A replaced version's batcher drains on its own: its queued items still run on that version.
    const batcher = policy && functionBatcher(name, policy, this.workers, (input) => this.#executor.invoke(def.id, input));
    this.#functions.set(name, { current: def, batcher, logs: previous?.logs ?? [] });
    return info(def);
  }

  /** `options.transfer`: the caller gives up `input`, which then reaches the worker without a copy (InvokeOptions). */
  async invoke(name: string, input: Uint8Array | string = new Uint8Array(0), options: PlumeInvokeOptions = {}): Promise<Uint8Array> {
    const result = await this.invokeDetailed(name, input, options);
    if (result.exitCode) throw PlumeError.exit(name, result.exitCode);
    return result.output;
  }

  /**
   * The host side of `call_many`: starts every call at once (each is a future: a Promise) and resolves
   * when all have settled, with each outcome in order, as `Promise.allSettled` gives them; one failing call
   * does not stop the others.
   */
  invokeMany(calls: readonly InvokeCall[]): Promise<PromiseSettledResult<Uint8Array>[]> {
    if (!Array.isArray(calls)) return Promise.reject(new TypeError('invokeMany takes an array of { name, input? } calls'));
    return Promise.allSettled(calls.map((call) => this.invoke(call.name, call.input, call.options)));
  }

  /**
   * Like invoke, but a WASI command's non-zero exit code is returned, not thrown, and the result says where
   * and how it ran (worker, placement, queue wait, batch size, cold start). `near` asks to run on that
   * worker (the one that ran the previous step) unless it is much busier than the others; a batched
   * function ignores it.
   */
  async invokeDetailed(
    name: string,
    input: Uint8Array | string = new Uint8Array(0),
    options: PlumeInvokeOptions = {},
  ): Promise<InvocationResult> {
    const bytes = typeof input === 'string' ? encoder.encode(input) : input;
    // Deployed here: it runs here. Otherwise a linked peer that serves it runs it (docs/dataplane.md, Peers).
    const deployed = this.#functions.get(name) ?? (this.#remote ? undefined : this.#lookup(name));
    if (!deployed && !(await this.reachable(name)))
      throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed here or on a peer`, { function: name });
    const started = performance.now();
    const here = deployed && !this.#spreads(name, deployed) ? deployed : undefined;
    const id = here?.current.id;
    if (id !== undefined) this.#hold(id);
    try {
      const result = !here
        ? await this.#invokeOnPeer(name, bytes, deployed, options)
        : here.batcher
          ? await this.#submitToBatch(here.current, here.batcher, bytes)
          : await this.#executor.invoke(here.current.id, bytes, options);
      if (events.invocation.hasSubscribers) {
        const { queuedMs, cold } = result;
        events.invocation.publish({ function: name, code: 'ok', ms: performance.now() - started, queuedMs, cold });
      }
      return result;
    } catch (err) {
      if (events.invocation.hasSubscribers) {
        const code = err instanceof PlumeError ? err.code : 'PLUME_EFAILED';
        events.invocation.publish({ function: name, code, ms: performance.now() - started, queuedMs: 0, cold: false });
      }
      throw err;
    } finally {
      if (id !== undefined) this.#release(id);
    }
  }

  /** A call of this version runs here: it is counted for spreading and keeps the version until it ends. */
  #hold(id: number): void {
    this.#inflight.set(id, (this.#inflight.get(id) ?? 0) + 1);
    this.#busy++;
  }

  #release(id: number): void {
    this.#busy--;
    const left = this.#inflight.get(id)! - 1;
    this.#inflight.set(id, left);
    if (left === 0 && this.#retired.has(id)) this.#drop(id);
  }

  /**
   * Does this call of a function deployed here go to a peer that serves it too? Only under heavy load:
   * when this node holds SPREAD_TO_PEERS_AT calls or more per worker and the peer, counting the calls this
   * node has sent it, fewer; or when every worker here is over its memory limit (`workerMemoryMb`). A
   * stateful function keeps its state here and a batched one gains from its queue, so neither spreads.
   */
  #spreads(name: string, deployed: Deployed): boolean {
    if (!this.#remote || deployed.current.stateful || deployed.batcher) return false;
    const load = this.#busy / this.workers;
    const full = this.#executor.memoryFull;
    if (load < SPREAD_TO_PEERS_AT && !full) return false;
    const peer = this.#remote.load(name);
    return peer !== undefined && (full || (peer.inflight + 1) / peer.workers < load);
  }

  async #submitToBatch(def: FunctionDefinition, batcher: FunctionBatcher<InvocationResult>, bytes: Uint8Array): Promise<InvocationResult> {
    if (bytes.length > def.limits.maxInputBytes) throw inputError(def, bytes.length);
    const { value, queuedMs, batchSize } = await batcher.submitDetailed(bytes);
    return { ...value, queuedMs: value.queuedMs + queuedMs, batchSize };
  }

  /**
   * A call run on the peer with the cheapest edge; the result says which node and mode. A call of a
   * function deployed here too (spread) whose peer was lost, with no other peer to retry it on, runs here
   * after all: spreading never takes a stateful function, so running it twice is safe (docs/cluster.md).
   */
  async #invokeOnPeer(
    name: string,
    input: Uint8Array,
    local: Deployed | undefined,
    options: PlumeInvokeOptions,
  ): Promise<InvocationResult> {
    try {
      const { output, hop } = await this.#callPeer(name, input, options.client);
      return { output, worker: -1, placement: 'remote', queuedMs: 0, batchSize: 1, cold: false, remote: hop };
    } catch (err) {
      if (!local || (err as PlumeError).code !== 'PLUME_EPEER') throw err;
      const id = local.current.id;
      this.#hold(id);
      try {
        return await this.#executor.invoke(id, input, options);
      } finally {
        this.#release(id);
      }
    }
  }

  /** Also what a guest's chained call to a peer's function reaches, through the executor. */
  #callPeer(name: string, input: Uint8Array, client?: Client): Promise<{ output: Uint8Array; hop: RemoteHop }> {
    if (!this.#remote)
      return Promise.reject(new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name }));
    return this.#remote.invoke(name, input, client);
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

  /**
   * Per function (its current version): instances idle and busy on all workers, cold starts and calls run
   * (counted by the workers, which see chained calls too; one message to each), and calls queued here for
   * a concurrency slot or a batch.
   */
  async stats(): Promise<Record<string, FunctionStats>> {
    const byId = await this.#executor.stats();
    const out: Record<string, FunctionStats> = {};
    for (const [name, { current, batcher }] of this.#functions) {
      const s = byId.get(current.id);
      if (!s) continue;
      out[name] = { ...s, queueDepth: s.queueDepth + (batcher?.queueDepth ?? 0) };
    }
    return out;
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

  /**
   * Register an ONNX model (bytes or a path) under a name for wasi-nn `load_by_name` (docs/wasi-nn.md).
   * Every worker creates its session before this resolves; adding a name again replaces the model. A file
   * that is unreadable or not a model ONNX Runtime can load is refused with PLUME_EMODEL.
   */
  async addModel(name: string, model: Uint8Array | string): Promise<ModelInfo> {
    if (!NAME.test(name)) throw new TypeError(`model name must match ${NAME}, got '${name}'`);
    const bytes = typeof model === 'string' ? await readModel(model) : model;
    const what = typeof model === 'string' ? `'${model}'` : `'${name}'`;
    if (bytes.length === 0) throw new PlumeError('PLUME_EMODEL', `model ${what} is empty`, { model: name });
    let meta;
    try {
      meta = await this.#executor.addModel(name, bytes);
    } catch (err) {
      // Name the file rather than the registry name when there is one: that is what the caller must fix.
      if (err instanceof PlumeError && err.code === 'PLUME_EMODEL' && typeof model === 'string') {
        throw new PlumeError('PLUME_EMODEL', err.message.replace(`model '${name}'`, `model ${what}`), { model: name });
      }
      throw err;
    }
    const info: ModelInfo = { name, bytes: bytes.length, ...meta };
    this.#models.set(name, info);
    return info;
  }

  models(): ModelInfo[] {
    return [...this.#models.values()];
  }

  /** Resolves once no worker has the model any more. */
  async removeModel(name: string): Promise<void> {
    if (!this.#models.delete(name)) throw new PlumeError('PLUME_EMODEL', `no model named '${name}' is registered`, { model: name });
    await this.#executor.removeModel(name);
  }

  /**
   * Check a workflow spec (an object, or YAML/JSON text), deploy the functions and models it lists (paths
   * relative to `baseDir`), and keep it under its name (docs/workflows.md). Throws PLUME_ESPEC naming the field.
   */
  applyWorkflow(spec: WorkflowSpec | string, options: ApplyOptions = {}): Promise<WorkflowInfo> {
    return this.#workflows.apply(spec, options);
  }

  /** Run an applied workflow; `trace: true` also returns its trace (`formatTimeline` prints it). */
  runWorkflow(name: string, input: Uint8Array | string = new Uint8Array(0), options: RunOptions = {}): Promise<WorkflowRun> {
    return this.#workflows.run(name, input, options);
  }

  workflows(): WorkflowInfo[] {
    return this.#workflows.list();
  }

  /** An applied workflow's spec, as checked (PLUME_ENOWORKFLOW if none has that name). */
  workflowSpec(name: string): WorkflowSpec {
    return this.#workflows.spec(name);
  }

  removeWorkflow(name: string): void {
    this.#workflows.remove(name);
  }

  /** The node's state tiers, for the host side (seeding a model, reading results). */
  get state(): StateService {
    return this.#state;
  }

  async close(): Promise<void> {
    for (const { batcher } of this.#functions.values()) batcher?.close();
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
    limits: def.limits,
  };
}

const readModel = (path: string): Promise<Uint8Array> => readFileOr('PLUME_EMODEL', 'model', path);
const readModule = (path: string): Promise<Uint8Array> => readFileOr('PLUME_EMODULE', 'module', path);

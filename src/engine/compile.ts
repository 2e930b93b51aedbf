/**
 * Deploy-time work: validate a module against the host interfaces, rewrite it for pooling and snapshots,
 * compile it once per content hash, and take its snapshot.
 */
import { createHash } from 'node:crypto';
import { PlumeError } from '../errors.ts';
import type { GuestConfig, HostInterface } from './host-interface.ts';
import {
  DEFAULT_IDLE_MS,
  DEFAULT_LIMITS,
  PAGE_BYTES,
  type BatchPolicy,
  type FunctionDefinition,
  type Limits,
  type Snapshot,
} from './definition.ts';
import { FunctionInstance, type LogSink } from './instance.ts';
import { prepareModule, WasmFormatError, type PreparedInfo } from './wasm-binary.ts';

/** Modules above this are refused: the biggest real functions (with embedded data) stay well below it. */
export const MAX_MODULE_BYTES = 128 * 1024 * 1024;
const MAX_PAGES_32 = 65536;

export interface DeployOptions {
  /** The reactor export to call; default `run`. A module exporting `_start` and no entry is a WASI command. */
  readonly entry?: string;
  readonly stateful?: boolean;
  readonly limits?: Partial<Limits>;
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly dirs?: Readonly<Record<string, string>>;
  /** Each worker drops instances idle this long, down to `minWarm` (default 30 s; `Infinity`: never). */
  readonly idleMs?: number;
  /** Idle instances kept warm on each worker even when unused (default 0: scale to zero). */
  readonly minWarm?: number;
  /** Adaptive request batching: the function then takes a list of inputs per call (docs/scheduler.md). */
  readonly batch?: BatchPolicy;
}

interface Compiled {
  readonly module: WebAssembly.Module;
  readonly info: PreparedInfo;
}

/** Content hash → compiled module. Deploying the same bytes again (a new version, another name) skips compilation. */
export class ModuleCache {
  readonly #entries = new Map<string, Compiled>();

  get size(): number {
    return this.#entries.size;
  }

  compile(bytes: Uint8Array): Compiled {
    if (bytes.length > MAX_MODULE_BYTES) {
      throw new PlumeError('PLUME_EMODULE', `module is ${mb(bytes.length)} MB, over the ${mb(MAX_MODULE_BYTES)} MB limit`);
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    const hit = this.#entries.get(hash);
    if (hit) return hit;
    const compiled = compileUncached(bytes);
    this.#entries.set(hash, compiled);
    return compiled;
  }
}

export function compileUncached(bytes: Uint8Array): Compiled {
  let prepared: ReturnType<typeof prepareModule>;
  try {
    prepared = prepareModule(bytes);
  } catch (err) {
    if (err instanceof WasmFormatError) throw new PlumeError('PLUME_EMODULE', `not a valid WebAssembly module: ${err.message}`);
    throw err;
  }
  try {
    return { module: new WebAssembly.Module(prepared.bytes as Uint8Array<ArrayBuffer>), info: prepared.info };
  } catch (err) {
    throw new PlumeError('PLUME_EMODULE', `not a valid WebAssembly module: ${(err as Error).message}`);
  }
}

/** Everything of a definition but its snapshot, checked against the host interfaces. */
export function defineFunction(
  compiled: Compiled,
  ids: { id: number; name: string; version: number },
  options: DeployOptions,
  hosts: readonly HostInterface[],
): FunctionDefinition {
  const { info } = compiled;
  const original = info.original;
  const limits: Limits = checkLimits({ ...DEFAULT_LIMITS, ...options.limits });
  const importModules = new Set<string>();
  const config: GuestConfig = {
    name: ids.name,
    env: { ...options.env },
    args: [...(options.args ?? [])],
    dirs: { ...options.dirs },
  };
  let suspends = false;
  for (const imp of original.imports) {
    if (imp.kind === 'memory') continue;
    const host = hosts.find((h) => h.module === imp.module);
    if (imp.kind !== 'function' || !host?.provides(imp.name)) {
      const known = hosts.map((h) => h.module).join(', ');
      throw new PlumeError(
        'PLUME_EIMPORT',
        `module imports ${imp.kind} '${imp.module}.${imp.name}', which no host interface provides (host modules: ${known})`,
        { import: `${imp.module}.${imp.name}` },
      );
    }
    importModules.add(imp.module);
    suspends ||= host.suspends(imp.name, config);
  }

  const exports = new Map(original.exports.map((e) => [e.name, e]));
  const wantsCommand = options.entry === undefined && !exports.has('run') && exports.has('_start');
  const entry = options.entry ?? (wantsCommand ? '_start' : 'run');
  const entryExport = exports.get(entry);
  if (!entryExport || entryExport.kind !== 'function') {
    throw new PlumeError('PLUME_EENTRY', `module has no exported function '${entry}' (a reactor exports 'run', a WASI command '_start')`);
  }
  const sig = entryExport.signature;
  const expected = wantsCommand ? '' : 'i32';
  if (!sig || sig.params.length !== 0 || sig.results.join(',') !== expected) {
    const got = sig ? `(${sig.params.join(', ')}) -> (${sig.results.join(', ')})` : 'unknown';
    throw new PlumeError('PLUME_EENTRY', `export '${entry}' must have type () -> (${expected}), got ${got}`);
  }

  const memory = info.memory;
  if (memory?.memory64) throw new PlumeError('PLUME_EMODULE', '64-bit memories are not supported');
  const limitPages = Math.floor((limits.memoryMb * 1024 * 1024) / PAGE_BYTES);
  const maxPages = Math.min(memory?.max ?? MAX_PAGES_32, limitPages);
  if (memory && memory.min > maxPages) {
    throw new PlumeError(
      'PLUME_EMEMORY',
      `module needs ${mb(memory.min * PAGE_BYTES)} MB of memory at start, over its limit of ${limits.memoryMb} MB`,
    );
  }
  return {
    ...ids,
    module: compiled.module,
    kind: wantsCommand ? 'command' : 'reactor',
    entry,
    importModules: [...importModules],
    suspends,
    stateful: options.stateful ?? false,
    memoryImport: info.memoryImport,
    memoryMinPages: memory?.min ?? 0,
    memoryMaxPages: maxPages,
    sharedMemory: memory?.shared ?? false,
    callableExports: original.exports
      .filter((e) => e.kind === 'function' && e.signature?.params.length === 0 && e.signature.results.join(',') === 'i32')
      .map((e) => e.name),
    globals: info.mutableGlobals.map((g) => g.exportName),
    hasStart: info.start,
    limits,
    ...checkPool(options),
    config,
    snapshot: undefined,
  };
}

/** Instantiate once, run init, capture memory and globals. Runs on a worker so a looping init can be stopped. */
export function takeSnapshot(def: FunctionDefinition, hosts: readonly HostInterface[], logSink: LogSink): Snapshot {
  const memory = (): WebAssembly.Memory =>
    new WebAssembly.Memory({ initial: def.memoryMinPages, maximum: def.memoryMaxPages, shared: def.sharedMemory });
  // A second, uninitialised instance shows how far a bare instantiation writes (its data segments).
  const freshEnd = new FunctionInstance(def, hosts, memory(), logSink).dirtyEnd();
  const inst = new FunctionInstance(def, hosts, memory(), logSink);
  inst.init();
  return inst.capture(freshEnd);
}

/**
 * The largest value each limit may take: a 32-bit module addresses at most 4 GiB, and a timeout past
 * setTimeout's longest delay (~24.8 days) would fire at once instead of never; a limit above its ceiling is
 * refused rather than silently capped.
 */
const LIMIT_CEILINGS: Partial<Record<keyof Limits, [max: number, why: string]>> = {
  memoryMb: [(MAX_PAGES_32 * PAGE_BYTES) / (1024 * 1024), 'the 4 GiB a 32-bit module can address'],
  timeoutMs: [2 ** 31 - 1, 'the longest timer Node can set'],
};

function checkLimits(limits: Limits): Limits {
  for (const [key, value] of Object.entries(limits) as [keyof Limits, number][]) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`limits.${key} must be a positive number, got ${String(value)}`);
    }
    const ceiling = LIMIT_CEILINGS[key];
    if (ceiling && value > ceiling[0]) throw new RangeError(`limits.${key} must be at most ${ceiling[0]} (${ceiling[1]}), got ${value}`);
  }
  return limits;
}

function checkPool(options: DeployOptions): { idleMs: number; minWarm: number } {
  const { idleMs = DEFAULT_IDLE_MS, minWarm = 0 } = options;
  if (typeof idleMs !== 'number' || !(idleMs > 0)) throw new RangeError(`idleMs must be a positive number of ms, got ${String(idleMs)}`);
  if (!Number.isInteger(minWarm) || minWarm < 0) throw new RangeError(`minWarm must be a non-negative integer, got ${String(minWarm)}`);
  return { idleMs, minWarm };
}

function mb(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '');
}

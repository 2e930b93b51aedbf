/**
 * Functions with no platform around them: each module compiled, snapshotted and pooled by the engine alone,
 * called on the calling thread with the host interfaces (plume_v1 for input and output, WASI, WASI-NN) and
 * the thread's own ONNX Runtime sessions. No executor, no worker threads, no rings, no scheduler, no
 * workflow executor. The `direct` case runs a whole chain on one of these; each `process-per-function`
 * step server hosts one function on one.
 */
import { readFile } from 'node:fs/promises';
import { compileUncached, defineFunction, takeSnapshot } from '../../src/engine/compile.ts';
import type { FunctionDefinition } from '../../src/engine/definition.ts';
import { InstancePool } from '../../src/engine/instance-pool.ts';
import type { LogSink } from '../../src/engine/instance.ts';
import { MemoryPool } from '../../src/engine/memory-pool.ts';
import { Payload } from '../../src/data/payload.ts';
import { PlumeError } from '../../src/errors.ts';
import { hostInterfaces } from '../../src/host/index.ts';
import { models } from '../../src/inference/models.ts';
import type { StepFunction } from './pipeline.ts';

/** Guest warnings and errors go to stderr; their info lines would flood a benchmark. */
const logSink: LogSink = (fn, level, message) => {
  if (level >= 2) process.stderr.write(`[${fn}] ${message}\n`);
};

export class BareHost {
  readonly #pools = new Map<string, InstancePool>();
  readonly #memories = new MemoryPool();
  readonly #models: string[] = [];

  /** Compiles and snapshots every function and creates the sessions of every model (name → .onnx path). */
  static async load(functions: Readonly<Record<string, StepFunction>>, modelPaths: Readonly<Record<string, string>>): Promise<BareHost> {
    const host = new BareHost();
    for (const [name, path] of Object.entries(modelPaths)) {
      await models.register(name, new Uint8Array(await readFile(path)));
      host.#models.push(name);
    }
    let id = 1;
    for (const [name, fn] of Object.entries(functions)) {
      const compiled = compileUncached(new Uint8Array(await readFile(fn.module)));
      const def: FunctionDefinition = defineFunction(compiled, { id: id++, name, version: 1 }, fn.options, hostInterfaces);
      const full: FunctionDefinition = { ...def, snapshot: takeSnapshot(def, hostInterfaces, logSink) };
      host.#pools.set(name, new InstancePool(full, hostInterfaces, host.#memories, logSink));
    }
    return host;
  }

  /** One call of `name` on this thread (synchronously up to the first WASI-NN suspension). */
  async invoke(name: string, input: Uint8Array): Promise<Uint8Array> {
    const pool = this.#pools.get(name);
    if (!pool) throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is loaded`, { function: name });
    const { output } = await pool.invoke(Payload.of(input));
    // flatten() never returns a pooled chunk: the output's chunks can go back to the pool at once.
    const flat = output.flatten();
    output.release();
    return flat;
  }

  async close(): Promise<void> {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
    for (const name of this.#models.splice(0)) models.unregister(name);
  }
}

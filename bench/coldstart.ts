/**
 * `plume bench coldstart`: what an instance costs to bring up, and what a warm call costs.
 * cold     compile + instantiate + init from fresh module bytes (a new custom section defeats V8's caches)
 * restore  a new instance from a snapshot into a pooled memory that a dropped instance gave back (the
 *          steady state of scaling down and up; Faasm's Proto-Faaslet restore); the whole snapshot is copied
 * restore-prefaulted  the same into a never-used pre-faulted memory (cache-cold: the copy costs more)
 * warm     a no-op invocation through the executor, sequential, caller on the main thread
 * throughput  pipelined no-op invocations on all workers
 */
import { readFileSync } from 'node:fs';
import { compileUncached, defineFunction, takeSnapshot } from '../src/engine/compile.ts';
import type { FunctionDefinition } from '../src/engine/definition.ts';
import { InstancePool } from '../src/engine/instance-pool.ts';
import { MemoryPool } from '../src/engine/memory-pool.ts';
import { hostInterfaces } from '../src/host/index.ts';
import { Plume } from '../src/runtime.ts';
import { latency, round, type CaseResult } from './report.ts';

export interface ColdstartOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

const NOOP = new URL('../examples/noop/noop.wasm', import.meta.url);
const fixture = (kb: number): URL => new URL(`./fixtures/snapshot-${kb}k.wasm`, import.meta.url);
const quiet = (): void => {};

export async function coldstart(opts: ColdstartOptions = {}): Promise<CaseResult[]> {
  const scale = opts.quick ? 0.05 : 1;
  const progress = opts.progress ?? quiet;
  const results: CaseResult[] = [];
  const noop = readFileSync(NOOP);

  progress('cold');
  results.push({ case: 'cold', ...latency(repeat(Math.ceil(300 * scale), (i) => timeCold(noop, i))) });

  for (const kb of [64, 1024]) {
    progress(`restore ${kb} KiB`);
    results.push({ case: 'restore', snapshot_kb: kb, ...latency(timeRestores(readFileSync(fixture(kb)), Math.ceil(2000 * scale), true)) });
  }
  for (const kb of [64, 1024]) {
    progress(`restore-prefaulted ${kb} KiB`);
    const samples = timeRestores(readFileSync(fixture(kb)), Math.ceil(2000 * scale), false);
    results.push({ case: 'restore-prefaulted', snapshot_kb: kb, ...latency(samples) });
  }

  const plume = await Plume.start();
  try {
    await plume.deploy('noop', noop);
    await plume.prewarm('noop', 4);
    progress('warm');
    for (let i = 0; i < 500; i++) await plume.invoke('noop');
    const samples: number[] = [];
    for (let i = 0; i < Math.ceil(20_000 * scale); i++) {
      const t = performance.now();
      await plume.invoke('noop');
      samples.push(performance.now() - t);
    }
    results.push({ case: 'warm', ...latency(samples) });

    progress('throughput');
    results.push(await throughput(plume, Math.ceil(400_000 * scale)));
  } finally {
    await plume.close();
  }
  return results;
}

function repeat(n: number, once: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => once(i));
}

/** Fresh bytes each time: an extra custom section named after the iteration changes the content hash. */
function timeCold(bytes: Uint8Array, i: number): number {
  const name = new TextEncoder().encode(`cold-${i}-${Math.random()}`);
  const section = new Uint8Array([0, name.length + 1, name.length, ...name]);
  const fresh = new Uint8Array(bytes.length + section.length);
  fresh.set(bytes);
  fresh.set(section, bytes.length);
  const t = performance.now();
  const def = defineFunction(compileUncached(fresh), { id: i, name: 'cold', version: 1 }, {}, hostInterfaces);
  const snapshot = takeSnapshot(def, hostInterfaces, quiet);
  new InstancePool({ ...def, snapshot }, hostInterfaces, new MemoryPool(0), quiet).create();
  return performance.now() - t;
}

function timeRestores(bytes: Uint8Array, n: number, recycle: boolean): number[] {
  const def = defineFunction(compileUncached(bytes), { id: 1, name: 'restore', version: 1 }, {}, hostInterfaces);
  const full: FunctionDefinition = { ...def, snapshot: takeSnapshot(def, hostInterfaces, quiet) };
  const memories = new MemoryPool(0);
  const pool = new InstancePool(full, hostInterfaces, memories, quiet);
  const shape = { initial: full.snapshot!.pages, maximum: full.memoryMaxPages, shared: false };
  const samples: number[] = [];
  // Refill pre-faulted memories in batches outside the timed region, as the pool's idle refill does.
  for (let done = 0; done < n; done += 100) {
    memories.fill(shape, 100);
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      const inst = pool.create();
      samples.push(performance.now() - t);
      if (recycle) pool.discard(inst);
    }
  }
  return samples;
}

async function throughput(plume: Plume, total: number): Promise<CaseResult> {
  const window = 4096;
  let sent = 0;
  const t = performance.now();
  const lane = async (): Promise<void> => {
    while (sent < total) {
      sent++;
      await plume.invoke('noop');
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const seconds = (performance.now() - t) / 1000;
  return { case: 'throughput', n: total, workers: plume.workers, throughput_rps: round(total / seconds) };
}

/**
 * `plume bench wasi`: the cost of WASI calls in Plume's own layer (src/host/wasi/) against bare node:wasi,
 * in the same run, with the same guest (bench/guests/wasi-ops.wasm, built without libc) instantiated once
 * against each. Cases, each a guest export timed from JS (batches of calls divided back to one call):
 *   fd_write-file      1 KiB / 1 MiB written at offset 0 of a file in the preopen (a seek and a write)
 *   fd_write-stdout    the same to fd 1: for Plume, the call's output buffer; for node:wasi, /dev/null
 *   open-read-close    path_open + fd_read + fd_close of a 100-byte file
 *   readdir-1000       path_open of a directory of 1,000 entries, fd_readdir through it with cookies, close
 * Case names carry the layer: `plume/…` and `node-wasi/…`. No wasmtime figures for these calls are
 * published, so none are printed beside them. Then, on a node with 2 workers, Plume only:
 *   noop-idle / noop-beside-sleepers   a no-op call's latency alone, and while 1,000 WASI guests
 *                                      (bench/guests/wasi-sleep.c) sleep in poll_oneoff on the same workers
 *   noop-beside-pipe-readers           the same while 1,000 guests (bench/guests/wasi-pipe.c) wait in
 *                                      fd_read on FIFOs with nothing in them yet
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { Payload } from '../src/data/payload.ts';
import { newCall } from '../src/engine/instance.ts';
import type { InstanceHandle } from '../src/engine/host-interface.ts';
import { wasiPreview1 } from '../src/host/wasi/index.ts';
import { Plume } from '../src/runtime.ts';
import { latency, type CaseResult } from './report.ts';

export interface WasiBenchOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

interface Ops {
  write_at_start(fd: number, buf: number, len: number): number;
  /** Through WebAssembly.promising for both layers (Plume's fd_read may suspend). */
  open_read_close_n(n: number, dirfd: number, path: number, pathLen: number, buf: number, len: number): Promise<number>;
  list_dir(dirfd: number, path: number, pathLen: number, buf: number, len: number): number;
}

type RawImport = (...args: (number | bigint)[]) => unknown;

interface Layer {
  readonly name: 'plume' | 'node-wasi';
  readonly ops: Ops;
  readonly memory: WebAssembly.Memory;
  readonly imports: Record<string, RawImport>;
  /** Called between batches (Plume: a fresh output buffer, as each invocation gets). */
  reset(): void;
}

const MODULE = new URL('./guests/wasi-ops.wasm', import.meta.url);
const SLEEP = new URL('./guests/wasi-sleep.wasm', import.meta.url);
const PIPE = new URL('./guests/wasi-pipe.wasm', import.meta.url);
const NOOP = new URL('../examples/noop/noop.wasm', import.meta.url);
/** Guest addresses past the module's own first page: path strings, then the data buffer. */
const SCRATCH = 65536;
const DATA = SCRATCH + 4096;
const quiet = (): void => {};

export async function wasiBench(opts: WasiBenchOptions = {}): Promise<CaseResult[]> {
  const progress = opts.progress ?? quiet;
  const scale = opts.quick ? 0.1 : 1;
  const root = mkdtempSync(join(tmpdir(), 'plume-bench-wasi-'));
  try {
    writeFileSync(join(root, 'small.txt'), 'x'.repeat(100));
    writeFileSync(join(root, 'out.bin'), '');
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 1000; i++) writeFileSync(join(root, 'many', `entry-${String(i).padStart(4, '0')}`), '');
    const module = new WebAssembly.Module(readFileSync(MODULE));
    const layers = [plumeLayer(module, root), nodeWasiLayer(module, root)];
    const results: CaseResult[] = [];
    const samples = (n: number): number => Math.ceil(n * scale);
    // One case at a time for both layers, in an order that alternates between cases, so that neither
    // layer always runs first on a machine whose load drifts.
    const cases: { label: string; run: (layer: Layer, at: Addresses) => CaseResult | Promise<CaseResult> }[] = [];
    for (const [kb, batch] of [
      [1, 200],
      [1024, 2],
    ] as const) {
      cases.push({
        label: `fd_write ${kb} KiB to a file`,
        run: (l, at) =>
          timed(`${l.name}/fd_write-file`, { size_kb: kb }, samples(300), batch, l, () => l.ops.write_at_start(at.out, DATA, kb * 1024)),
      });
      cases.push({
        label: `fd_write ${kb} KiB to stdout`,
        run: (l) =>
          timed(`${l.name}/fd_write-stdout`, { size_kb: kb }, samples(300), batch, l, () => l.ops.write_at_start(1, DATA, kb * 1024)),
      });
    }
    cases.push({
      label: 'open-read-close',
      run: (l, at) =>
        timedInGuest(`${l.name}/open-read-close`, {}, samples(300), 100, l, (n) => l.ops.open_read_close_n(n, 3, ...at.small, DATA, 4096)),
    });
    cases.push({
      label: 'readdir-1000',
      run: (l, at) =>
        timed(`${l.name}/readdir-1000`, { entries: 1002 }, samples(100), 1, l, () => l.ops.list_dir(3, ...at.many, DATA, 4096)),
    });
    const addresses = new Map(layers.map((l) => [l, addressesIn(l)]));
    const rows: CaseResult[][] = layers.map(() => []);
    for (const [i, c] of cases.entries()) {
      progress(c.label);
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) rows[k]!.push(await c.run(layers[k]!, addresses.get(layers[k]!)!));
    }
    results.push(...rows.flat());
    results.push(...(await besideSleepers(opts.quick ? 200 : 1000, Math.ceil(2000 * scale), progress)));
    return results;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * A no-op call's latency on 2 workers, idle and then while `sleepers` WASI guests sleep in poll_oneoff on
 * the same workers (2 s each, long enough to outlast the measurement). Suspended guests hold no thread, so
 * the two should be alike (the issue's bound: within 2×).
 */
async function besideSleepers(sleepers: number, calls: number, progress: (label: string) => void): Promise<CaseResult[]> {
  const plume = await Plume.start({ workers: 2 });
  try {
    await plume.deploy('noop', readFileSync(NOOP));
    await plume.deploy('sleep', readFileSync(SLEEP));
    const noops = async (): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < calls; i++) {
        const t = performance.now();
        await plume.invoke('noop');
        ms.push(performance.now() - t);
      }
      return ms;
    };
    progress('noop idle');
    await noops();
    const idle = await noops();
    progress(`noop beside ${sleepers} sleepers`);
    const asleep = Array.from({ length: sleepers }, () => plume.invoke('sleep', '2000'));
    // Every sleeper has started (and suspended) once one more call has gone through each worker's queue.
    await Promise.all([plume.invoke('noop'), plume.invoke('noop')]);
    const beside = await noops();
    const woke = await Promise.all(asleep);
    if (!woke.every((out) => new TextDecoder().decode(out) === 'slept')) throw new Error('bench wasi: a sleeper did not wake');
    progress(`noop beside ${sleepers} pipe readers`);
    const readers = await besidePipeReaders(plume, sleepers, noops);
    return [
      { case: 'plume/noop-idle', workers: 2, ...latency(idle) },
      { case: 'plume/noop-beside-sleepers', workers: 2, sleepers, ...latency(beside) },
      { case: 'plume/noop-beside-pipe-readers', workers: 2, readers: sleepers, ...latency(readers) },
    ];
  } finally {
    await plume.close();
  }
}

/**
 * The no-op's latencies while `count` guests (bench/guests/wasi-pipe.c) wait on FIFOs that a writer here
 * holds open and has written nothing to; then each pipe gets its bytes and every reader must answer them.
 */
async function besidePipeReaders(plume: Plume, count: number, noops: () => Promise<number[]>): Promise<number[]> {
  const where = mkdtempSync(join(tmpdir(), 'plume-bench-pipes-'));
  const writers: number[] = [];
  try {
    const paths = Array.from({ length: count }, (_, i) => join(where, `pipe-${i}`));
    execFileSync('mkfifo', paths);
    // O_RDWR on a FIFO never waits for a reader (Linux) and keeps a writer on it: readers see no end of file.
    for (const p of paths) writers.push(openSync(p, constants.O_RDWR | constants.O_NONBLOCK));
    await plume.deploy('pipe', readFileSync(PIPE), { dirs: { '/p': where } });
    const reading = paths.map((_, i) => plume.invoke('pipe', `/p/pipe-${i} ${`pipe ${i}`.length}\n`));
    await Promise.all([plume.invoke('noop'), plume.invoke('noop')]);
    const beside = await noops();
    // The writers stay open until their readers are done: a FIFO's bytes go when its last end closes.
    writers.forEach((fd, i) => writeSync(fd, `pipe ${i}`));
    const got = await Promise.all(reading);
    if (!got.every((out, i) => new TextDecoder().decode(out) === `pipe ${i}`))
      throw new Error('bench wasi: a pipe reader did not get its bytes');
    return beside;
  } finally {
    for (const fd of writers) closeSync(fd);
    rmSync(where, { recursive: true, force: true });
  }
}

/**
 * `samples` timings of one `call(batch)` each, the guest looping `batch` times (a promise: an await is paid
 * once per sample), as ms per iteration; every call must succeed.
 */
async function timedInGuest(
  name: string,
  extra: Record<string, number>,
  samples: number,
  batch: number,
  layer: Layer,
  call: (n: number) => Promise<number>,
): Promise<CaseResult> {
  for (let i = 0; i < 5; i++) check(name, await call(batch));
  const ms: number[] = [];
  for (let s = 0; s < samples; s++) {
    layer.reset();
    const t = performance.now();
    check(name, await call(batch));
    ms.push((performance.now() - t) / batch);
  }
  return { case: name, ...extra, ...latency(ms) };
}

/** `samples` timings of `batch` calls each, as ms per call; every call must succeed. */
function timed(name: string, extra: Record<string, number>, samples: number, batch: number, layer: Layer, call: () => number): CaseResult {
  for (let i = 0; i < batch * 5; i++) check(name, call());
  const ms: number[] = [];
  for (let s = 0; s < samples; s++) {
    layer.reset();
    const t = performance.now();
    for (let i = 0; i < batch; i++) check(name, call());
    ms.push((performance.now() - t) / batch);
  }
  return { case: name, ...extra, ...latency(ms) };
}

function check(name: string, result: number): void {
  if (result < 0) throw new Error(`bench wasi: ${name} failed with WASI errno ${-result}`);
}

interface Addresses {
  /** The layer's descriptor for out.bin. */
  readonly out: number;
  readonly small: [number, number];
  readonly many: [number, number];
}

/** Writes the paths the cases use into the layer's memory and opens the file the writes go to. */
function addressesIn(layer: Layer): Addresses {
  const path = (s: string, at: number): [number, number] => {
    const b = new TextEncoder().encode(s);
    new Uint8Array(layer.memory.buffer).set(b, at);
    return [at, b.length];
  };
  return { out: openIn(layer, 'out.bin'), small: path('small.txt', SCRATCH + 1024), many: path('many', SCRATCH + 1088) };
}

/** Opens `name` in the preopen (fd 3) through the layer's own path_open, as a guest would. */
function openIn(layer: Layer, name: string): number {
  const b = new TextEncoder().encode(name);
  new Uint8Array(layer.memory.buffer).set(b, SCRATCH);
  const rights = (1n << 1n) | (1n << 2n) | (1n << 6n); // fd_read, fd_seek, fd_write
  const errno = layer.imports.path_open!(3, 0, SCRATCH, b.length, 0, rights, 0n, 0, SCRATCH + 256);
  if (errno !== 0) throw new Error(`bench wasi: opening ${name} failed with WASI errno ${String(errno)}`);
  return new DataView(layer.memory.buffer).getUint32(SCRATCH + 256, true);
}

/** The guest's imported memory: 19 pages, as the module declares (a 1 MiB buffer past the first 64 KiB). */
const guestMemory = (): WebAssembly.Memory => new WebAssembly.Memory({ initial: 19 });

function plumeLayer(module: WebAssembly.Module, root: string): Layer {
  const memory = guestMemory();
  const handle = {
    memory,
    config: { name: 'bench', env: {}, args: [], dirs: { '/': root } },
    kind: 'command',
    stateful: false,
    call: newCall(Payload.empty, Number.MAX_SAFE_INTEGER),
    calls: undefined,
    state: undefined,
    log: quiet,
  } satisfies InstanceHandle;
  const imports = wasiPreview1.bind(handle) as Record<string, RawImport>;
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: imports, env: { memory } });
  return {
    name: 'plume',
    ops: opsOf(instance),
    memory,
    imports,
    // Each invocation starts with an empty output; the bench's writes to stdout would otherwise pile up.
    reset: () => (handle.call = newCall(Payload.empty, Number.MAX_SAFE_INTEGER)),
  };
}

function nodeWasiLayer(module: WebAssembly.Module, root: string): Layer {
  const devNull = openSync('/dev/null', 'w');
  const wasi = new WASI({ version: 'preview1', preopens: { '/': root }, stdout: devNull, returnOnExit: true });
  const raw = wasi.wasiImport as Record<string, RawImport>;
  // Wrapped in closures, as Plume's node:wasi layer did: instantiating against the raw object is slow.
  const imports: Record<string, RawImport> = {};
  for (const [name, fn] of Object.entries(raw)) imports[name] = (...args) => fn.apply(raw, args);
  const memory = guestMemory();
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: imports, env: { memory } });
  wasi.initialize({ exports: { memory } });
  process.once('exit', () => closeSync(devNull));
  return { name: 'node-wasi', ops: opsOf(instance), memory, imports, reset: quiet };
}

/** The guest's exports, the looping one through WebAssembly.promising for either layer alike. */
function opsOf(instance: WebAssembly.Instance): Ops {
  const exports = instance.exports as Record<string, (...args: number[]) => number>;
  return {
    write_at_start: exports.write_at_start!,
    list_dir: exports.list_dir!,
    open_read_close_n: WebAssembly.promising(exports.open_read_close_n!) as unknown as Ops['open_read_close_n'],
  };
}

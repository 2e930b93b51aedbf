/**
 * `plume bench transfer`: CWASI's sequential A→B experiment at its payload sizes. Latency is CWASI's
 * definition: from A's output being complete until B can read all of it, measured inside the guest
 * (bench/guests/transfer.c) with the monotonic clock.
 * embedded/by-ref     B gets A's output by reference and reads 1 KB of it
 * embedded/full-read  B reads every byte into its own memory
 * memcpy              one TypedArray copy of the same size in the same run: the physical baseline
 */
import { fileURLToPath } from 'node:url';
import { Plume } from '../src/runtime.ts';
import { CWASI_SIZES_MB } from './cwasi.ts';
import { latency, type CaseResult } from './report.ts';

const GUEST = fileURLToPath(new URL('./guests/transfer.wasm', import.meta.url));
const MB = 1024 * 1024;

export interface TransferOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

export async function transfer(opts: TransferOptions = {}): Promise<CaseResult[]> {
  const sizes = opts.quick ? [2, 10] : CWASI_SIZES_MB;
  const results: CaseResult[] = [];
  const plume = await Plume.start({ workers: 1 });
  try {
    await plume.deploy('transfer', GUEST, { limits: { maxOutputBytes: 128 * MB, memoryMb: 64, timeoutMs: 60_000 } });
    for (const size_mb of sizes) {
      const n = opts.quick ? 3 : size_mb <= 20 ? 40 : 15;
      opts.progress?.(`${size_mb} MB × ${n}`);
      for (const [name, mode] of [
        ['embedded/by-ref', 'ref'],
        ['embedded/full-read', 'full'],
      ] as const) {
        const samples: number[] = [];
        await plume.invoke('transfer', `${size_mb * MB}:${mode}`); // warm-up: instances and pools
        for (let i = 0; i < n; i++) {
          const ns = Number(new TextDecoder().decode(await plume.invoke('transfer', `${size_mb * MB}:${mode}`)));
          samples.push(ns / 1e6);
        }
        results.push({ case: name, size_mb, ...latency(samples) });
      }
      results.push({ case: 'memcpy', size_mb, ...latency(memcpy(size_mb * MB, n)) });
    }
  } finally {
    await plume.close();
  }
  return results;
}

function memcpy(bytes: number, n: number): number[] {
  const src = new Uint8Array(bytes).map((_, i) => i & 0xff);
  const dst = new Uint8Array(bytes);
  dst.set(src); // fault in the destination first: the guest's buffer is warm too
  return Array.from({ length: n }, () => {
    const t = performance.now();
    dst.set(src);
    return performance.now() - t;
  });
}

/**
 * The one guest every trace function runs (bench/guests/trace-fn.c), built from source by the bench when
 * the .wasm is missing or older than its source (the flags of scripts/build-examples.ts for reactors), and
 * the calibration that turns a trace duration into rounds of its CPU loop.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BareHost } from '../ocr/bare-host.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const GUEST_SOURCE = fileURLToPath(new URL('../guests/trace-fn.c', import.meta.url));
export const GUEST_WASM = fileURLToPath(new URL('../guests/trace-fn.wasm', import.meta.url));

/** Builds trace-fn.wasm when it is stale; returns its bytes. Needs clang with wasi-libc (scripts/system-deps.sh). */
export function guestModule(): Uint8Array {
  const stale = !existsSync(GUEST_WASM) || statSync(GUEST_WASM).mtimeMs < statSync(GUEST_SOURCE).mtimeMs;
  if (stale) {
    const args = ['--target=wasm32-wasi', '-O2', '-Wall', '-Isdk/c', '-Wl,--strip-all', '-mexec-model=reactor'];
    const env = { ...process.env, PATH: `${root}node_modules/.bin${delimiter}${process.env['PATH'] ?? ''}` };
    try {
      execFileSync('clang', [...args, '-o', GUEST_WASM, GUEST_SOURCE], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const why = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
      throw new Error(`cannot build ${GUEST_SOURCE} (clang with wasi-libc, see scripts/system-deps.sh): ${why}`, { cause: err });
    }
  }
  return new Uint8Array(readFileSync(GUEST_WASM));
}

/**
 * Rounds of the guest's loop per millisecond of CPU, measured by running the guest here (the bare engine,
 * one thread): the median of five timed calls of 20 million rounds, after three warm-up calls.
 */
export async function calibrate(): Promise<number> {
  guestModule();
  const host = await BareHost.load({ f: { module: GUEST_WASM, options: {}, models: [] } }, {});
  try {
    // Long enough for V8 to tier the loop up (its first calls run baseline code, several times slower).
    const rounds = 20_000_000;
    const input = new TextEncoder().encode(`${rounds} 0 0 0\n`);
    for (let i = 0; i < 3; i++) await host.invoke('f', input);
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await host.invoke('f', input);
      ms.push(performance.now() - t);
    }
    return rounds / ms.sort((a, b) => a - b)[2]!;
  } finally {
    await host.close();
  }
}

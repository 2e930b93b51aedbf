/** args, environ, clocks, random, proc_*, sched_yield and the socket calls (Plume grants no sockets yet). */
import { randomFillSync } from 'node:crypto';
import { GuestExit } from '../../engine/host-interface.ts';
import { CLOCK, E, R, fail } from './abi.ts';
import type { WasiContext } from './context.ts';

type Imports = Record<string, (...args: never[]) => number>;
const encoder = new TextEncoder();

/** NUL-terminated strings, as args_get/environ_get lay them out. */
function cstrings(values: readonly string[]): Uint8Array[] {
  return values.map((v) => encoder.encode(`${v}\0`));
}

function writeList(ctx: WasiContext, list: Uint8Array[], ptrs: number, buf: number): number {
  let at = buf >>> 0;
  for (let i = 0; i < list.length; i++) {
    ctx.setU32((ptrs >>> 0) + i * 4, at);
    ctx.bytes(at, list[i]!.length).set(list[i]!);
    at += list[i]!.length;
  }
  return E.SUCCESS;
}

function writeSizes(ctx: WasiContext, list: Uint8Array[], countPtr: number, sizePtr: number): number {
  ctx.setU32(countPtr, list.length);
  ctx.setU32(
    sizePtr,
    list.reduce((n, s) => n + s.length, 0),
  );
  return E.SUCCESS;
}

/** Nanoseconds on `id`'s clock; EINVAL for an unknown clock. */
export function now(id: number): bigint {
  switch (id) {
    case CLOCK.REALTIME:
      // Date.now() is whole milliseconds; timeOrigin + performance.now() carries the sub-millisecond part.
      return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    case CLOCK.MONOTONIC:
      return process.hrtime.bigint();
    case CLOCK.PROCESS_CPUTIME: {
      const u = process.cpuUsage();
      return BigInt(u.user + u.system) * 1000n;
    }
    case CLOCK.THREAD_CPUTIME: {
      const u = process.threadCpuUsage?.() ?? process.cpuUsage();
      return BigInt(u.user + u.system) * 1000n;
    }
    default:
      return fail(E.INVAL);
  }
}

const RESOLUTION: Record<number, bigint> = {
  [CLOCK.REALTIME]: 1_000n,
  [CLOCK.MONOTONIC]: 1n,
  [CLOCK.PROCESS_CPUTIME]: 1_000n,
  [CLOCK.THREAD_CPUTIME]: 1_000n,
};

export function processImports(ctx: WasiContext): Imports {
  const { config } = ctx.instance;
  const args = cstrings([config.name, ...config.args]);
  const env = cstrings(Object.entries(config.env).map(([k, v]) => `${k}=${v}`));
  return {
    args_get: (argv: number, buf: number) => writeList(ctx, args, argv, buf),
    args_sizes_get: (count: number, size: number) => writeSizes(ctx, args, count, size),
    environ_get: (environ: number, buf: number) => writeList(ctx, env, environ, buf),
    environ_sizes_get: (count: number, size: number) => writeSizes(ctx, env, count, size),
    clock_res_get(id: number, out: number) {
      const res = RESOLUTION[id];
      if (res === undefined) return fail(E.INVAL);
      ctx.setU64(out, res);
      return E.SUCCESS;
    },
    clock_time_get(id: number, _precision: bigint, out: number) {
      ctx.setU64(out, now(id));
      return E.SUCCESS;
    },
    random_get(buf: number, len: number) {
      const bytes = ctx.bytes(buf, len);
      // randomFillSync takes at most 2^31-1 bytes per call, and a view of shared memory only in chunks it owns.
      for (let off = 0; off < bytes.length; off += 65536) {
        const chunk = bytes.subarray(off, Math.min(bytes.length, off + 65536));
        chunk.set(randomFillSync(new Uint8Array(chunk.length)));
      }
      return E.SUCCESS;
    },
    proc_exit(code: number): never {
      throw new GuestExit(code >>> 0);
    },
    // Signals would reach the host's process; the spec lets a runtime refuse them.
    proc_raise: () => E.NOSYS,
    sched_yield: () => E.SUCCESS,
    // No descriptor Plume hands out is a socket: the socket calls answer EBADF for numbers not open and
    // ENOTSOCK for the rest, as a host without granted sockets does.
    sock_accept: (fd: number) => socketless(ctx, fd, R.SOCK_ACCEPT),
    sock_recv: (fd: number) => socketless(ctx, fd, 0),
    sock_send: (fd: number) => socketless(ctx, fd, 0),
    sock_shutdown: (fd: number) => socketless(ctx, fd, 0),
  };
}

function socketless(ctx: WasiContext, fd: number, _rights: number): number {
  ctx.table.get(fd);
  return E.NOTSOCK;
}

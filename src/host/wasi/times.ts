/**
 * Timestamps for `*_set_times` (witx `fstflags`: set atim/mtim to a given time, to now, or keep it).
 * Node's utimes takes seconds as a double, which keeps only ~240 ns of precision for today's dates, and
 * WASI timestamps are nanoseconds. So the times go through Node first and, only if the file then does not
 * show the exact nanoseconds asked for, through coreutils' `touch -d @s.nnnnnnnnn` (utimensat), handed the
 * very descriptor (as its fd 3) so that it reaches the inode resolution picked and nothing else.
 */
import { spawnSync } from 'node:child_process';
import { fstatSync, lstatSync, lutimesSync, utimesSync } from 'node:fs';
import { E, FSTFLAGS, fail } from './abi.ts';
import { self } from './paths.ts';

interface Times {
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
}

/** Where to set times: an open descriptor itself, or `name` (not followed) in the directory open as `fd`. */
export interface TimesTarget {
  readonly fd: number;
  readonly name?: string;
}

export function setTimes(target: TimesTarget, atim: bigint, mtim: bigint, flags: number): void {
  if ((flags & ~0xf) !== 0) return fail(E.INVAL);
  if ((flags & FSTFLAGS.ATIM) !== 0 && (flags & FSTFLAGS.ATIM_NOW) !== 0) return fail(E.INVAL);
  if ((flags & FSTFLAGS.MTIM) !== 0 && (flags & FSTFLAGS.MTIM_NOW) !== 0) return fail(E.INVAL);
  const current = stat(target);
  const nowNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  const a = flags & FSTFLAGS.ATIM_NOW ? nowNs : flags & FSTFLAGS.ATIM ? atim : current.atimeNs;
  const m = flags & FSTFLAGS.MTIM_NOW ? nowNs : flags & FSTFLAGS.MTIM ? mtim : current.mtimeNs;
  // Through /proc/self/fd/N rather than futimes: that works for O_PATH descriptors too.
  if (target.name === undefined) utimesSync(self(target.fd), seconds(a), seconds(m));
  else lutimesSync(`${self(target.fd)}/${target.name}`, seconds(a), seconds(m));
  const after = stat(target);
  // "Now" needs no exactness; a given time does, and so does a kept one (the double rounded it too).
  if (after.atimeNs !== a && (flags & FSTFLAGS.ATIM_NOW) === 0) touch(target, '-a', a);
  if (after.mtimeNs !== m && (flags & FSTFLAGS.MTIM_NOW) === 0) touch(target, '-m', m);
}

function stat(target: TimesTarget): Times {
  return target.name === undefined
    ? fstatSync(target.fd, { bigint: true })
    : lstatSync(`${self(target.fd)}/${target.name}`, { bigint: true });
}

function touch(target: TimesTarget, which: '-a' | '-m', ns: bigint): void {
  const stamp = `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
  const path = target.name === undefined ? '/proc/self/fd/3' : `/proc/self/fd/3/${target.name}`;
  const args = ['-c', which, '-d', stamp, ...(target.name === undefined ? [] : ['-h']), path];
  const done = spawnSync('touch', args, { stdio: ['ignore', 'ignore', 'ignore', target.fd], timeout: 5000 });
  if (done.status !== 0) fail(E.IO);
}

function seconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

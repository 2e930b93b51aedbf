/** Timestamps for `*_set_times`: which of atim/mtim to set, to a given time or to now (witx `fstflags`). */
import { E, FSTFLAGS, fail } from './abi.ts';

/** The (atime, mtime) pair in seconds for utimes: an unset one keeps its current value. */
export function timesFor(current: { atimeNs: bigint; mtimeNs: bigint }, atim: bigint, mtim: bigint, flags: number): [number, number] {
  if ((flags & ~0xf) !== 0) return fail(E.INVAL);
  if ((flags & FSTFLAGS.ATIM) !== 0 && (flags & FSTFLAGS.ATIM_NOW) !== 0) return fail(E.INVAL);
  if ((flags & FSTFLAGS.MTIM) !== 0 && (flags & FSTFLAGS.MTIM_NOW) !== 0) return fail(E.INVAL);
  const now = Date.now() / 1000;
  const pick = (given: bigint, set: number, setNow: number, keep: bigint): number => {
    if ((flags & setNow) !== 0) return now;
    return seconds((flags & set) !== 0 ? given : keep);
  };
  return [pick(atim, FSTFLAGS.ATIM, FSTFLAGS.ATIM_NOW, current.atimeNs), pick(mtim, FSTFLAGS.MTIM, FSTFLAGS.MTIM_NOW, current.mtimeNs)];
}

/** Nanoseconds as the seconds utimes takes (Node passes a double on to libuv: sub-microsecond digits round). */
function seconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

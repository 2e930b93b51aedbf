/**
 * poll_oneoff. stdin (the call's input, already in memory), files and directories are always ready; a
 * pipe or socket is ready for reading once bytes or its end have come (./streams.ts). Until a clock is due
 * or a pipe is ready the guest suspends through JSPI: the worker thread runs other guests while a timer and
 * the pipes' sockets stand in for the wait.
 */
import { E, EVENTTYPE, R, SIZE, SUBCLOCK_ABSTIME, WasiErrno, fail } from './abi.ts';
import type { WasiContext } from './context.ts';
import { pollStream, stdinOf } from './fd.ts';
import type { HostStream } from './streams.ts';
import { now } from './process.ts';

interface Event {
  readonly userdata: bigint;
  readonly error: number;
  readonly type: number;
  readonly nbytes: bigint;
}

interface Clock {
  readonly userdata: bigint;
  readonly id: number;
  /** Deadline on the monotonic clock, in nanoseconds. */
  readonly deadline: bigint;
}

export function pollOneoff(ctx: WasiContext, inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number | Promise<number> {
  const n = nsubs >>> 0;
  if (n === 0) return fail(E.INVAL);
  const subs = ctx.out(inPtr, n * SIZE.SUBSCRIPTION);
  ctx.out(outPtr, n * SIZE.EVENT);
  ctx.out(neventsPtr, 4);
  const ready: Event[] = [];
  const clocks: Clock[] = [];
  const pipes: { readonly userdata: bigint; readonly stream: HostStream }[] = [];
  for (let i = 0; i < n; i++) {
    const p = (inPtr >>> 0) + i * SIZE.SUBSCRIPTION;
    const userdata = subs.getBigUint64(p, true);
    const type = subs.getUint8(p + 8);
    if (type === EVENTTYPE.CLOCK) {
      const id = subs.getUint32(p + 16, true);
      const timeout = subs.getBigUint64(p + 24, true);
      const flags = subs.getUint16(p + 40, true);
      try {
        const t = now(id);
        const wait = (flags & SUBCLOCK_ABSTIME) !== 0 ? timeout - t : timeout;
        clocks.push({ userdata, id, deadline: now(1) + (wait > 0n ? wait : 0n) });
      } catch (err) {
        if (!(err instanceof WasiErrno)) throw err;
        ready.push({ userdata, error: err.errno, type, nbytes: 0n });
      }
    } else if (type === EVENTTYPE.FD_READ || type === EVENTTYPE.FD_WRITE) {
      const fd = subs.getUint32(p + 16, true);
      const stream = type === EVENTTYPE.FD_READ ? streamOf(ctx, fd) : undefined;
      if (stream && !stream.ready) pipes.push({ userdata, stream });
      else ready.push(fdEvent(ctx, userdata, type, fd, stream));
    } else return fail(E.INVAL);
  }
  if (ready.length > 0 || (clocks.length === 0 && pipes.length === 0)) return deliver(ctx, outPtr, neventsPtr, ready);
  const first = clocks.length > 0 ? clocks.reduce((a, b) => (b.deadline < a.deadline ? b : a)) : undefined;
  // What is ready once something was: the clocks that are due (the first one always, once its timer
  // fired) and the pipes that have bytes or their end.
  const due = (timerFired: boolean): Event[] => {
    const t = now(1);
    const events: Event[] = clocks
      .filter((c) => c.deadline <= t || (timerFired && c === first))
      .map((c) => ({ userdata: c.userdata, error: 0, type: EVENTTYPE.CLOCK, nbytes: 0n }));
    for (const w of pipes) {
      if (w.stream.ready) events.push({ userdata: w.userdata, error: 0, type: EVENTTYPE.FD_READ, nbytes: BigInt(w.stream.buffered) });
    }
    return events;
  };
  if (first && first.deadline <= now(1)) return deliver(ctx, outPtr, neventsPtr, due(true));
  return new Promise((done, fail) => {
    const cancels: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    // Settled from a timer or a pipe: an errno here must reach the guest, not escape as an uncaught exception.
    const settle = (timerFired: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const cancel of cancels) cancel();
      try {
        done(deliver(ctx, outPtr, neventsPtr, due(timerFired)));
      } catch (err) {
        if (err instanceof WasiErrno) done(err.errno);
        else fail(err as Error);
      }
    };
    if (first) timer = setTimeout(() => settle(true), Math.ceil(Number(first.deadline - now(1)) / 1e6));
    for (const w of pipes) cancels.push(w.stream.whenReady(() => settle(false)));
  });
}

/** The pipe or socket behind `fd` whose readiness a poll waits on; undefined for anything always ready (or a bad fd: fdEvent answers it). */
function streamOf(ctx: WasiContext, fd: number): HostStream | undefined {
  try {
    return pollStream(ctx.table.get(fd, R.POLL_FD_READWRITE));
  } catch (err) {
    if (err instanceof WasiErrno) return undefined;
    throw err;
  }
}

function fdEvent(ctx: WasiContext, userdata: bigint, type: number, fd: number, stream?: HostStream): Event {
  try {
    const d = ctx.table.get(fd, R.POLL_FD_READWRITE);
    let nbytes = stream ? BigInt(stream.buffered) : 0n;
    if (type === EVENTTYPE.FD_READ && d.kind === 'stdin') nbytes = BigInt(Math.max(0, stdinOf(ctx).length - ctx.stdin));
    if (type === EVENTTYPE.FD_READ && d.kind === 'dir') return { userdata, error: E.BADF, type, nbytes };
    return { userdata, error: E.SUCCESS, type, nbytes };
  } catch (err) {
    if (!(err instanceof WasiErrno)) throw err;
    return { userdata, error: err.errno, type, nbytes: 0n };
  }
}

function deliver(ctx: WasiContext, outPtr: number, neventsPtr: number, events: Event[]): number {
  const view = ctx.out(outPtr, events.length * SIZE.EVENT);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const p = (outPtr >>> 0) + i * SIZE.EVENT;
    view.setBigUint64(p, e.userdata, true);
    view.setUint16(p + 8, e.error, true);
    view.setUint8(p + 10, e.type);
    for (let b = 11; b < 16; b++) view.setUint8(p + b, 0);
    view.setBigUint64(p + 16, e.nbytes, true);
    view.setBigUint64(p + 24, 0n, true);
  }
  ctx.setU32(neventsPtr, events.length);
  return E.SUCCESS;
}

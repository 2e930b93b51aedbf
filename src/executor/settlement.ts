/**
 * Call settlement: a worker's answer becomes the caller's InvocationResult (or error), the function's mean
 * run time learns from it, and the call's hops are published for tracing.
 */
import { PlumeError, type SerializedError } from '../errors.ts';
import type { Hop } from '../engine/host-interface.ts';
import { events } from '../events.ts';
import type { Placement } from '../scheduler/placement.ts';
import { RecordFlag, RUN_US_SHIFT } from './layout.ts';
import type { RemoteHop } from './protocol.ts';
import type { Pending } from './worker-slot.ts';

/** What an invocation gives its caller on the main thread: the output in one piece. */
export interface InvocationResult {
  readonly output: Uint8Array;
  /** Set for WASI commands: the code given to `proc_exit`, 0 when `_start` returned. */
  readonly exitCode?: number;
  /** Every hop between functions this invocation made (chained calls), with its mode and bytes. */
  readonly trace?: readonly Hop[];
  /** Index of the worker that ran it. */
  readonly worker: number;
  /** Where it ran relative to the `near` hint (docs/scheduler.md). */
  readonly placement: Placement;
  /** Time spent waiting before it ran: for a concurrency slot, and for its batch to form. */
  readonly queuedMs: number;
  /** Inputs in the invocation that ran it: 1 unbatched, N for a batch of N (docs/scheduler.md). */
  readonly batchSize: number;
  /** True when no warm instance was idle, so the call created one (from the snapshot). */
  readonly cold: boolean;
  /** Set when another node ran it (placement 'remote', worker -1): which node, and the transport's hop. */
  readonly remote?: RemoteHop;
}

/** Weight of the newest call in a version's mean run time: about the last 10 calls count. */
const RUN_EWMA = 0.1;

/** Mean run time on a worker per function version, µs (exponentially weighted; absent until a warm call finished). */
export class RunTimes {
  readonly #us = new Map<number, number>();

  /** A cold start's run time is mostly making the instance: only warm calls say how long the function runs. */
  learn(id: number, flags: number): void {
    if ((flags & RecordFlag.cold) !== 0) return;
    const ran = flags >>> RUN_US_SHIFT;
    const mean = this.#us.get(id);
    this.#us.set(id, mean === undefined ? ran : mean + RUN_EWMA * (ran - mean));
  }

  meanUs(id: number): number | undefined {
    return this.#us.get(id);
  }

  forget(id: number): void {
    this.#us.delete(id);
  }
}

/** Settle a call with its worker's answer: a result, or an error rebuilt from its code. */
export function settle(
  p: Pending,
  worker: number,
  flags: number,
  result: { output: Uint8Array; exitCode: number } | undefined,
  error?: SerializedError,
): void {
  if (p.trace && events.transfer.hasSubscribers) {
    for (const hop of p.trace) events.transfer.publish({ mode: hop.mode, bytesMoved: hop.bytesMoved, bytesCopied: hop.bytesCopied });
  }
  if (error) {
    p.reject(PlumeError.from(error));
    return;
  }
  const { output, exitCode } = result!;
  p.resolve({
    output,
    ...(p.def.kind === 'command' ? { exitCode } : {}),
    ...(p.trace ? { trace: p.trace } : {}),
    worker,
    placement: p.placement,
    queuedMs: p.queuedMs,
    batchSize: 1,
    cold: (flags & RecordFlag.cold) !== 0,
  });
}

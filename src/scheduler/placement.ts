/**
 * Affinity-aware placement: which worker runs an invocation. Edges between functions cost, cheapest
 * first: same thread (the payload stays in one thread's heap, the hand-off is a function call) > same
 * process (a ring hand-off to another worker, ~40 µs) > same host > network. Inside one process only the
 * first two exist, so a hint names a worker (the one that ran the previous step) and the choice is
 * between staying there and spreading to the least loaded worker.
 */

/**
 * Where an invocation ran relative to its hint: on the hinted worker, elsewhere for load, or no hint; or
 * 'remote': another node ran it (a function this node does not serve; docs/dataplane.md, Peers).
 */
export type Placement = 'colocated' | 'spread' | 'any' | 'remote';

/**
 * How many more calls the hinted worker may hold than the least loaded one before the hint is overridden.
 * A call queued behind k others waits k service times, while staying saves one hand-off (tens of µs): so
 * colocation is worth only a short queue. 2 keeps a light-load chain on one worker and spreads a burst.
 */
export const COLOCATE_SLACK = 2;

export interface PlacementDecision {
  readonly worker: number;
  readonly placement: Placement;
}

/**
 * A call that runs for less than this on its worker (its function's mean) is tiny: waking a sleeping worker
 * for it costs both threads more than the call itself (a futex wake-up and an event-loop turn back, tens of
 * µs), so without a hint it joins a worker that already has calls in flight instead of spreading.
 */
export const TINY_CALL_US = 50;
/** Calls a worker may hold before tiny calls stop joining it. */
export const TINY_PACK_LIMIT = 16;

/**
 * `loads[i]`: calls in flight on worker i (dispatched, not yet answered). With no hint, the least loaded
 * worker (the lowest index on a tie, so an idle pool behaves the same every time); a `tiny` call instead
 * joins the busiest worker that holds fewer than TINY_PACK_LIMIT calls (it is awake, or about to be).
 * `full[i]`: worker i holds more memory than its limit; it gets no calls (not even hinted ones) while
 * another worker is below its limit.
 */
export function placeCall(
  loads: readonly number[],
  near?: number,
  options: { readonly slack?: number; readonly tiny?: boolean; readonly full?: readonly boolean[] | undefined } = {},
): PlacementDecision {
  const { slack = COLOCATE_SLACK, tiny = false } = options;
  // Workers over their memory limit are passed over, unless every worker is.
  const full = options.full?.includes(false) ? options.full : undefined;
  let least = -1;
  for (let i = 0; i < loads.length; i++) if (!full?.[i] && (least < 0 || loads[i]! < loads[least]!)) least = i;
  if (near === undefined) {
    if (!tiny) return { worker: least, placement: 'any' };
    let busiest = least;
    for (let i = 0; i < loads.length; i++) if (!full?.[i] && loads[i]! < TINY_PACK_LIMIT && loads[i]! > loads[busiest]!) busiest = i;
    return { worker: busiest, placement: 'any' };
  }
  if (!full?.[near] && loads[near]! - loads[least]! <= slack) return { worker: near, placement: 'colocated' };
  return { worker: least, placement: 'spread' };
}

/** Throws a RangeError naming `near` unless it is a worker index. */
export function checkNear(near: number | undefined, workers: number): void {
  if (near === undefined) return;
  if (!Number.isInteger(near) || near < 0 || near >= workers) {
    throw new RangeError(`near must be a worker index from 0 to ${workers - 1}, got ${String(near)}`);
  }
}

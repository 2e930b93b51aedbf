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
 * `loads[i]`: calls in flight on worker i (dispatched, not yet answered). With no hint, the least loaded
 * worker (the lowest index on a tie, so an idle pool behaves the same every time).
 */
export function placeCall(loads: readonly number[], near?: number, slack: number = COLOCATE_SLACK): PlacementDecision {
  let least = 0;
  for (let i = 1; i < loads.length; i++) if (loads[i]! < loads[least]!) least = i;
  if (near === undefined) return { worker: least, placement: 'any' };
  if (loads[near]! - loads[least]! <= slack) return { worker: near, placement: 'colocated' };
  return { worker: least, placement: 'spread' };
}

/** Throws a RangeError naming `near` unless it is a worker index. */
export function checkNear(near: number | undefined, workers: number): void {
  if (near === undefined) return;
  if (!Number.isInteger(near) || near < 0 || near >= workers) {
    throw new RangeError(`near must be a worker index from 0 to ${workers - 1}, got ${String(near)}`);
  }
}

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
 * A call runs long (is overdue) once it has run OVERDUE_FACTOR times its function's mean warm run time, and
 * never before OVERDUE_FLOOR_MS. A function with no warm call yet has no usual time: its calls are overdue
 * after OVERDUE_UNKNOWN_MS, so that cold first calls of a heavy function (a model's first inference) are not
 * taken for runaways.
 */
export const OVERDUE_FLOOR_MS = 10;
export const OVERDUE_FACTOR = 4;
export const OVERDUE_UNKNOWN_MS = 250;

/** How long a call of a function with mean run time `meanUs` (undefined: unknown) may run before it is overdue. */
export function overdueAfterMs(meanUs: number | undefined): number {
  return meanUs === undefined ? OVERDUE_UNKNOWN_MS : Math.max(OVERDUE_FLOOR_MS, (OVERDUE_FACTOR * meanUs) / 1000);
}

/** A worker whose running call has run this long is no place for a tiny call, even a tiny function's. */
export const TINY_JOIN_MS = 1;

export interface PlaceOptions {
  readonly slack?: number;
  readonly tiny?: boolean;
  /**
   * `avoid[i]`: worker i should get no call while another worker need not be avoided: it holds more memory
   * than its limit, it runs a call past its function's usual time, it is starting, or it holds the calls of
   * a function under suspicion (docs/scheduler.md, Runaway calls).
   */
  readonly avoid?: readonly boolean[] | undefined;
  /** `joinable[i]`: worker i runs nothing, or a tiny call that just started: a tiny call may queue behind it. */
  readonly joinable?: readonly boolean[] | undefined;
  /**
   * The worker that ran this function last, while it may still hold an idle instance of it. A call with no
   * hint goes there when it is among the least loaded (on another worker it would find no instance and make
   * one: a cold start, and one more instance's memory on the node), never to a busier worker: calls of one
   * function that arrive together still spread over idle workers.
   */
  readonly warm?: number | undefined;
}

/**
 * `loads[i]`: calls in flight on worker i (dispatched, not yet answered). With no hint, the least loaded
 * worker: the `warm` one when it is among them, else the lowest index (so an idle pool behaves the same
 * every time); a `tiny` call instead joins the busiest joinable worker that holds fewer than
 * TINY_PACK_LIMIT calls (it is awake, or about to be). Avoided workers get no calls (not even hinted ones) while another worker is not avoided; `stuck` in
 * the decision says that every worker was (the executor may then start a spare one).
 */
export function placeCall(loads: readonly number[], near?: number, options: PlaceOptions = {}): PlacementDecision & { stuck: boolean } {
  const { slack = COLOCATE_SLACK, tiny = false, joinable } = options;
  const stuck = options.avoid !== undefined && !options.avoid.includes(false);
  // Avoided workers are passed over, unless every worker is.
  const avoid = stuck ? undefined : options.avoid;
  let least = -1;
  for (let i = 0; i < loads.length; i++) if (!avoid?.[i] && (least < 0 || loads[i]! < loads[least]!)) least = i;
  if (near === undefined) {
    const { warm } = options;
    if (!tiny && warm !== undefined && !avoid?.[warm] && loads[warm]! === loads[least]!) return { worker: warm, placement: 'any', stuck };
    if (!tiny) return { worker: least, placement: 'any', stuck };
    let busiest = -1;
    for (let i = 0; i < loads.length; i++) {
      if (avoid?.[i] || joinable?.[i] === false || loads[i]! >= TINY_PACK_LIMIT) continue;
      if (busiest < 0 || loads[i]! > loads[busiest]!) busiest = i;
    }
    return { worker: busiest < 0 ? least : busiest, placement: 'any', stuck };
  }
  if (!avoid?.[near] && loads[near]! - loads[least]! <= slack) return { worker: near, placement: 'colocated', stuck };
  return { worker: least, placement: 'spread', stuck };
}

/** Throws a RangeError naming `near` unless it is a worker index. */
export function checkNear(near: number | undefined, workers: number): void {
  if (near === undefined) return;
  if (!Number.isInteger(near) || near < 0 || near >= workers) {
    throw new RangeError(`near must be a worker index from 0 to ${workers - 1}, got ${String(near)}`);
  }
}

/**
 * The watchdog: a guest in a loop never yields its thread, so only the main thread can stop it. Every tick
 * it reads which call each worker runs and since when (the worker's control block), and
 * - replaces the worker once that call is past its timeout + grace (the executor re-runs the calls the
 *   worker held that had not started);
 * - lowers the thread's priority while that call runs long (past DEMOTE_AFTER_MS), so long calls take the
 *   CPU only when short ones do not want it — a two-level feedback queue — and restores it after
 *   (docs/scheduler.md, Runaway calls);
 * - retires spare workers that stayed idle, and workers whose priority could not be restored, once idle.
 * It runs only while calls are in flight or spares exist.
 */
import type { FunctionDefinition } from '../engine/definition.ts';
import type { Pending, WorkerSlot } from './worker-slot.ts';

/** How long past its timeout a guest may run before its worker is replaced (the issue allows 100 ms). */
export const WATCHDOG_GRACE_MS = 40;
const WATCHDOG_TICK_MS = 20;
/**
 * A call that has run this long lowers its thread's priority until it ends: short calls (a gateway's
 * typical request) then preempt it, while on a node that runs only long calls all of them are equal again.
 */
export const DEMOTE_AFTER_MS = 5;
/** A spare worker idle this long is stopped. */
export const SPARE_IDLE_MS = 5000;

/** What the watchdog needs of its executor. */
export interface Watched {
  readonly slots: readonly WorkerSlot[];
  overdueAfterMs(def: FunctionDefinition): number;
  /** The call runs past its timeout: fail it and replace its worker. */
  timedOut(slot: WorkerSlot, callId: number, call: Pending): void;
  /** Replace an idle worker (its priority could not be restored). */
  recycle(slot: WorkerSlot): void;
  /** Stop an idle spare worker. */
  retire(slot: WorkerSlot): void;
}

export class Watchdog {
  readonly #watched: Watched;
  #timer: NodeJS.Timeout | undefined;

  constructor(watched: Watched) {
    this.#watched = watched;
  }

  arm(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), WATCHDOG_TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const watched = this.#watched;
    const now = performance.now();
    let keep = false;
    for (const slot of [...watched.slots]) {
      if (slot.stopped) continue;
      keep ||= slot.pending.size > 0 || slot.spare;
      if (slot.pending.size > 0) slot.lastBusy = now;
      const callId = slot.runningCall;
      const call = callId === 0 ? undefined : slot.pending.get(callId);
      const ran = now - slot.runningSince;
      if (call && ran >= call.def.limits.timeoutMs + WATCHDOG_GRACE_MS) {
        watched.timedOut(slot, callId, call);
        continue;
      }
      // A call that runs long (past DEMOTE_AFTER_MS, or its function's usual time) gives way to short ones.
      if (call !== undefined && (ran > DEMOTE_AFTER_MS || ran > watched.overdueAfterMs(call.def))) slot.setDemoted(true);
      else if (slot.demoted && !slot.setDemoted(false)) slot.retiring = true;
      if (slot.pending.size > 0) continue;
      if (slot.retiring) watched.recycle(slot);
      else if (slot.spare && now - slot.lastBusy > SPARE_IDLE_MS) watched.retire(slot);
    }
    if (!keep) this.stop();
  }
}

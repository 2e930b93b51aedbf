/**
 * The placement hand-off: what the executor knows of its workers right now (calls in flight, the call each
 * runs and for how long, memory, which are starting or stopped), turned into placeCall's inputs
 * (src/scheduler/placement.ts), plus the functions under suspicion, whose calls all go to one worker
 * (docs/scheduler.md, Runaway calls).
 */
import type { FunctionDefinition } from '../engine/definition.ts';
import { overdueAfterMs, placeCall, TINY_CALL_US, TINY_JOIN_MS, type Placement } from '../scheduler/placement.ts';
import type { RunTimes } from './settlement.ts';
import type { WorkerSlot } from './worker-slot.ts';

/** How long a function whose call timed out or ran out of memory stays under suspicion: its calls then all run on one worker. */
export const SUSPECT_MS = 10_000;

/** Where a call goes: a worker's index, or a spare to start (every worker is stuck). */
export interface Placed {
  readonly worker: number;
  readonly placement: Placement;
  readonly wantsSpare: boolean;
}

export class Placer {
  // Per worker, refilled for every placement (no allocation per call).
  readonly #loads: number[] = [];
  readonly #avoid: boolean[] = [];
  readonly #joinable: boolean[] = [];
  readonly #memoryLimit: number;
  readonly #runTimes: RunTimes;
  /** Functions whose call timed out or ran out of memory lately: version id → the worker their calls go to, and until when. */
  readonly #suspects = new Map<number, { readonly worker: number; until: number }>();
  /** Version id → the worker its last call went to and when: its pool there may hold an idle instance. */
  readonly #lastPlaced = new Map<number, { worker: number; at: number }>();

  constructor(memoryLimit: number, runTimes: RunTimes) {
    this.#memoryLimit = memoryLimit;
    this.#runTimes = runTimes;
  }

  /** A call of `id` timed out or ran out of memory on `worker`: the function's calls run there, and other calls elsewhere, for SUSPECT_MS. */
  suspect(id: number, worker: number): void {
    this.#suspects.set(id, { worker, until: performance.now() + SUSPECT_MS });
  }

  forget(id: number): void {
    this.#suspects.delete(id);
    this.#lastPlaced.delete(id);
  }

  /** Every running worker holds more memory than its limit (the runtime then spreads calls to peers that serve them). */
  memoryFull(slots: readonly WorkerSlot[]): boolean {
    return this.#memoryLimit !== Infinity && slots.every((s) => s.stopped || s.memoryBytes > this.#memoryLimit);
  }

  /**
   * A worker by load and affinity. A function under suspicion runs on its worker. Workers running a call past
   * its usual time, starting, holding a suspect's calls or over their memory limit are avoided; when every
   * worker is, for other reasons than memory, the call wants a spare worker.
   */
  place(slots: readonly WorkerSlot[], def: FunctionDefinition, hint: number | undefined): Placed {
    const now = performance.now();
    const jail = this.#jailOf(def.id, now);
    if (jail !== undefined) return { worker: jail, placement: 'any', wantsSpare: false };
    const limited = this.#memoryLimit !== Infinity;
    let hung = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      this.#loads[i] = slot.stopped ? Infinity : slot.pending.size;
      const callId = slot.runningCall;
      const running = callId === 0 ? undefined : slot.pending.get(callId);
      const ran = running ? now - slot.runningSince : 0;
      const mean = running && this.#runTimes.meanUs(running.def.id);
      const overdue = running !== undefined && ran > overdueAfterMs(mean);
      // A suspect's worker is avoided while it holds calls (the suspect's, as others avoid it); idle, it serves anyone.
      const jailed = this.#suspects.size > 0 && slot.pending.size > 0 && this.#isJail(i);
      this.#avoid[i] =
        slot.stopped || !slot.isReady || slot.retiring || overdue || jailed || (limited && slot.memoryBytes > this.#memoryLimit);
      // A worker that is starting will serve soon (as soon as a spare would): it does not call for one.
      if (slot.stopped || slot.retiring || overdue || jailed) hung++;
      this.#joinable[i] = running === undefined || (ran < TINY_JOIN_MS && (mean ?? Infinity) < TINY_CALL_US);
    }
    this.#loads.length = this.#avoid.length = this.#joinable.length = slots.length;
    const tiny = (this.#runTimes.meanUs(def.id) ?? Infinity) < TINY_CALL_US;
    const decision = placeCall(this.#loads, hint, { tiny, avoid: this.#avoid, joinable: this.#joinable, warm: this.#warm(def, now) });
    this.#remember(def.id, decision.worker, now);
    return { worker: decision.worker, placement: decision.placement, wantsSpare: decision.stuck && hung === slots.length };
  }

  /** The worker the function's last call went to, unless its instances there have been idle past its idleMs since. */
  #warm(def: FunctionDefinition, now: number): number | undefined {
    const last = this.#lastPlaced.get(def.id);
    return last && now - last.at < def.idleMs ? last.worker : undefined;
  }

  #remember(id: number, worker: number, now: number): void {
    const last = this.#lastPlaced.get(id);
    if (last) {
      last.worker = worker;
      last.at = now;
    } else this.#lastPlaced.set(id, { worker, at: now });
  }

  /** The worker a function under suspicion runs on, while it is; the suspicion ends SUSPECT_MS after its last timeout. */
  #jailOf(id: number, now: number): number | undefined {
    if (this.#suspects.size === 0) return undefined;
    const suspect = this.#suspects.get(id);
    if (!suspect) return undefined;
    if (suspect.until > now) return suspect.worker;
    this.#suspects.delete(id);
    return undefined;
  }

  #isJail(index: number): boolean {
    for (const s of this.#suspects.values()) if (s.worker === index) return true;
    return false;
  }
}

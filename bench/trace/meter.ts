/**
 * Memory and CPU of a case's processes, read from /proc: every `intervalMs` the resident set (VmRSS) of
 * every process the case names is summed; the peak, the integral over wall time (MB·s) and a series for
 * the report are kept. CPU-seconds are utime + stime of each process (all its threads), taken at its last
 * reading: a process that exits between readings loses at most one interval, and a case reads a process
 * it is about to stop with `final(pid)` first.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux

export interface MeterResult {
  readonly peak_rss_mb: number;
  readonly memory_mb_s: number;
  readonly cpu_s: number;
  /** (wall seconds since start, MB of all the processes). */
  readonly series: readonly (readonly [number, number])[];
}

export class Meter {
  readonly #pids: () => Iterable<number>;
  readonly #cpu = new Map<number, number>();
  readonly #series: [number, number][] = [];
  #timer: NodeJS.Timeout | undefined;
  #start = 0;
  #last = 0;
  #lastMb = 0;
  #peak = 0;
  #mbS = 0;

  readonly #intervalMs: number;

  constructor(pids: () => Iterable<number>, intervalMs = 200) {
    this.#pids = pids;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#start = this.#last = performance.now();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
  }

  /** Reads a process once more (it is about to exit): its CPU time counts in full. */
  final(pid: number): void {
    const cpu = cpuTicks(pid);
    if (cpu !== undefined) this.#cpu.set(pid, cpu);
  }

  stop(): MeterResult {
    clearInterval(this.#timer);
    this.#tick();
    const cpuTicksAll = [...this.#cpu.values()].reduce((a, b) => a + b, 0);
    return {
      peak_rss_mb: round(this.#peak),
      memory_mb_s: round(this.#mbS),
      cpu_s: round(cpuTicksAll / TICKS_PER_S),
      series: this.#series,
    };
  }

  #tick(): void {
    const now = performance.now();
    let kb = 0;
    for (const pid of this.#pids()) {
      kb += rssKb(pid) ?? 0;
      const cpu = cpuTicks(pid);
      if (cpu !== undefined) this.#cpu.set(pid, cpu);
    }
    const mb = kb / 1024;
    // Trapezoids between readings: memory held between two samples counts for the time between them.
    this.#mbS += ((this.#lastMb + mb) / 2) * ((now - this.#last) / 1000);
    this.#last = now;
    this.#lastMb = mb;
    this.#peak = Math.max(this.#peak, mb);
    this.#series.push([round((now - this.#start) / 1000), round(mb)]);
  }
}

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // exited
  }
}

function cpuTicks(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return undefined;
  }
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

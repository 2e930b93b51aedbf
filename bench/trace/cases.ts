/** The three cases of `plume bench trace`, each behind the TraceCase interface of replay.ts. */
import { startChild, stopChild } from './child.ts';
import type { Meter } from './meter.ts';
import { ProcessPerFunction } from './ppf.ts';
import type { TraceCase } from './replay.ts';
import { startWorkerd } from './workerd.ts';

async function post(url: string, input: Uint8Array): Promise<void> {
  const res = await fetch(url, { method: 'POST', body: input as Uint8Array<ArrayBuffer>, signal: AbortSignal.timeout(120_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text}`);
}

/**
 * One Plume node (plume-node.ts) with every function deployed. Besides its cold starts it reports the
 * instances its pools made with no call waiting (lean replacements of idle or grown ones), as
 * process-per-function reports the processes it started.
 */
export async function plumeCase(module: string, functions: readonly string[]): Promise<TraceCase> {
  const node = await startChild('./plume-node.ts', { functions, module });
  let first: number | undefined;
  let last = 0;
  return {
    name: 'plume',
    pids: () => [node.pid],
    send: (fn, input) => post(`${node.url}/f/${encodeURIComponent(fn)}`, input),
    counters: async () => {
      const stats = (await (await fetch(`${node.url}/stats`)).json()) as { cold: number; calls: number; replaced: number };
      first ??= stats.replaced;
      last = stats.replaced;
      return stats;
    },
    extra: () => ({ instances_replaced: last - (first ?? last) }),
    close: () => stopChild(node.process),
  };
}

/** Instances started on demand; `keepAliveMs` of wall time (the trace's 10 minutes, compressed). */
export async function ppfCase(module: string, keepAliveMs: number, concurrency: number): Promise<TraceCase> {
  const ppf = new ProcessPerFunction({ module, keepAliveMs, concurrency });
  await ppf.start();
  return {
    name: 'process-per-function',
    pids: () => ppf.pids(),
    send: (fn, input) => post(`${ppf.router}/call/${encodeURIComponent(fn)}`, input),
    counters: () => Promise.resolve({ cold: ppf.cold, calls: ppf.calls }),
    measureWith: (meter: Meter) => ppf.measureWith(meter),
    extra: () => ({ instances_started: ppf.started }),
    close: () => ppf.close(),
  };
}

export async function workerdCase(
  binary: string,
  module: string,
  functions: readonly string[],
  edges: Readonly<Record<string, readonly string[]>>,
): Promise<TraceCase> {
  const node = await startWorkerd(binary, module, functions, edges);
  let calls = 0;
  const count = (n: number): void => void (calls += n);
  return {
    name: 'workerd',
    pids: () => [node.pid],
    send: async (fn, input) => {
      await post(`${node.url}/f/${encodeURIComponent(fn)}`, input);
      count(callsIn(input));
    },
    // workerd loads every Worker at start-up and keeps it for the run: no cold start happens in a replay.
    counters: () => Promise.resolve({ cold: 0, calls }),
    close: () => node.close(),
  };
}

/** Calls an input makes, counted from its encoding (workerd reports none itself): 1 + its successors'. */
function callsIn(input: Uint8Array): number {
  const text = new TextDecoder().decode(input);
  return text.split('\n').filter((l) => /^\d+ \d+ \d+ \d+$/.test(l)).length;
}

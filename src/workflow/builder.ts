/**
 * The TypeScript way to write a spec; `build()` gives the same `WorkflowSpec` a YAML file parses into, checked
 * the same way:
 *
 *   workflow('wordcount')
 *     .step('words', 'text-words')
 *     .step('lengths', 'text-length', { map: 'words' })
 *     .step('total', 'text-sum', { reduce: 'lengths', initial: '0' })
 *     .build();
 */
import { parseSpec } from './spec.ts';
import type { FunctionSource, ModelSource, StepRef, StepSpec, WorkflowSpec } from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class WorkflowBuilder {
  readonly #spec: Mutable<WorkflowSpec> & { steps: StepSpec[] };

  constructor(name: string) {
    this.#spec = { name, steps: [] };
  }

  describe(description: string): this {
    this.#spec.description = description;
    return this;
  }

  /** A function to deploy on apply (`module` relative to the `baseDir` given to apply). */
  function(name: string, source: FunctionSource): this {
    this.#spec.functions = { ...this.#spec.functions, [name]: source };
    return this;
  }

  /** An ONNX model to register on apply: a path relative to `baseDir`, or `{ package: '<npm package>/<path>' }`. */
  model(name: string, source: ModelSource): this {
    this.#spec.models = { ...this.#spec.models, [name]: source };
    return this;
  }

  step(id: string, fn: string, options: Omit<StepSpec, 'id' | 'function'> = {}): this {
    this.#spec.steps.push({ id, function: fn, ...options });
    return this;
  }

  output(ref: StepRef): this {
    this.#spec.output = ref;
    return this;
  }

  /** The checked spec; throws PLUME_ESPEC as applying it would. */
  build(): WorkflowSpec {
    return parseSpec(structuredClone(this.#spec)).spec;
  }
}

export function workflow(name: string): WorkflowBuilder {
  return new WorkflowBuilder(name);
}

/**
 * What every case of `plume bench ocr` serves: one workflow spec (its functions and models) and the same
 * steps as a reference chain of plain calls. `plume` runs the spec on a Plume node; `direct` and
 * `process-per-function` run the reference chain, each through its own `Invoke`, so the three cases call
 * the same modules, with the same models, in the same order.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ocrChain, ocrDir, ocrSpecPath, samplePath, type Invoke } from '../../examples/ocr/ocr.ts';
import type { DeployOptions } from '../../src/engine/compile.ts';
import { modelFile } from '../../src/workflow/package-file.ts';
import { deployOptions } from '../../src/workflow/registry.ts';
import { parseSpec } from '../../src/workflow/spec.ts';
import type { WorkflowSpec } from '../../src/workflow/types.ts';

export type { Invoke };

/** A function as the hosts outside Plume load it: absolute module path, deploy options, models it loads by name. */
export interface StepFunction {
  readonly module: string;
  /** As `plume` deploys the function (`deployOptions` of the workflow registry). */
  readonly options: DeployOptions;
  readonly models: readonly string[];
}

export interface Pipeline {
  readonly spec: WorkflowSpec;
  /** Where the spec's relative paths start. */
  readonly baseDir: string;
  /** The spec's models: name → absolute path of the .onnx (a `package:` model found from baseDir). */
  readonly modelFiles: Readonly<Record<string, string>>;
  /** One request's body. */
  readonly input: Uint8Array;
  /** The reference chain: each step called one after another (a map's items at once), through `invoke`. */
  run(invoke: Invoke, input: Uint8Array): Promise<Uint8Array>;
}

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** The spec's functions with absolute paths. A function loads the models its environment names (infer's MODEL). */
export function stepFunctions(p: Pipeline): Record<string, StepFunction> {
  const modelNames = new Set(Object.keys(p.spec.models ?? {}));
  return Object.fromEntries(
    Object.entries(p.spec.functions ?? {}).map(([name, fn]) => {
      const step: StepFunction = {
        module: resolve(p.baseDir, fn.module),
        options: deployOptions(fn),
        models: Object.values(fn.env ?? {}).filter((v) => modelNames.has(v)),
      };
      return [name, step];
    }),
  );
}

/** The spec's models: name → absolute path of the .onnx. */
export function modelPaths(p: Pipeline, only?: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    Object.entries(p.spec.models ?? {})
      .filter(([name]) => !only || only.includes(name))
      .map(([name]) => [name, p.modelFiles[name]!]),
  );
}

async function modelFiles(spec: WorkflowSpec, baseDir: string): Promise<Record<string, string>> {
  const entries = Object.entries(spec.models ?? {});
  return Object.fromEntries(await Promise.all(entries.map(async ([name, source]) => [name, await modelFile(source, baseDir)])));
}

/**
 * A chain of two trivial guests (examples/workflows/chain.yaml: upper case, then reversed). It checks the
 * harness in seconds and shows the platforms' own overhead, with nothing to compute.
 */
export async function textChain(): Promise<Pipeline> {
  const file = root('examples/workflows/chain.yaml');
  const { spec } = parseSpec(await readFile(file, 'utf8'));
  return {
    spec,
    baseDir: dirname(file),
    modelFiles: await modelFiles(spec, dirname(file)),
    input: new TextEncoder().encode('hello, plume'),
    run: async (invoke, input) => invoke('reverse', await invoke('upper', input)),
  };
}

/** The OCR workflow (examples/ocr/): its spec, the sample image, and its reference chain (`ocrChain`). */
export async function ocrPipeline(): Promise<Pipeline> {
  const { spec } = parseSpec(await readFile(ocrSpecPath, 'utf8'));
  return {
    spec,
    baseDir: ocrDir,
    modelFiles: await modelFiles(spec, ocrDir),
    input: new Uint8Array(await readFile(samplePath)),
    run: ocrChain,
  };
}

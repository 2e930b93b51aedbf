/**
 * The OCR workflow from TypeScript: deploy its steps and models, and run them as a chain of plain calls (the
 * reference the tests check and the benchmark's `direct` case runs). The workflow spec
 * (`ocr.workflow.yaml`) is the same chain as a Plume workflow; both give the same bytes.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodeList, encodeList } from '../../src/data/list.ts';
import type { Plume } from '../../src/runtime.ts';
import type { WorkflowInfo } from '../../src/workflow/types.ts';

export interface OcrLine {
  readonly text: string;
  readonly confidence: number;
  /** [x0, y0, x1, y1] in the image's pixels; x1 and y1 are exclusive. */
  readonly box: readonly [number, number, number, number];
}

export interface OcrResult {
  readonly lines: readonly OcrLine[];
}

/** One call of a function by name: all the chain needs from whatever hosts the steps. */
export type Invoke = (fn: string, input: Uint8Array) => Promise<Uint8Array>;

export const ocrDir = fileURLToPath(new URL('.', import.meta.url));
export const ocrSpecPath = fileURLToPath(new URL('ocr.workflow.yaml', import.meta.url));
export const samplePath = fileURLToPath(new URL('sample.png', import.meta.url));

/** Deploys every step function and registers the three models (the spec's `functions` and `models`). */
export async function deployOcr(plume: Plume): Promise<WorkflowInfo> {
  return plume.applyWorkflow(await readFile(ocrSpecPath, 'utf8'), { baseDir: ocrDir });
}

/** The workflow's steps one after another, the lines at once: PNG bytes in, the JSON result's bytes out. */
export async function ocrChain(invoke: Invoke, png: Uint8Array): Promise<Uint8Array> {
  const image = await invoke('ocr-decode', png);
  const probs = await invoke('ocr-detect', await invoke('ocr-det-prep', image));
  const boxes = await invoke('ocr-db-post', encodeList([image, probs]));
  const lines = decodeList(await invoke('ocr-crop', encodeList([image, boxes])));
  const texts = await Promise.all(
    lines.map(async (line) => invoke('ocr-ctc', await invoke('ocr-recognize', await invoke('ocr-cls', line)))),
  );
  return invoke('ocr-format', encodeList([boxes, encodeList(texts)]));
}

/** Recognises the text in a PNG with the functions deployOcr deployed. */
export async function recognize(plume: Plume, png: Uint8Array): Promise<OcrResult> {
  const json = await ocrChain((fn, input) => plume.invoke(fn, input), png);
  return JSON.parse(new TextDecoder().decode(json)) as OcrResult;
}

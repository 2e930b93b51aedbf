/**
 * `plume bench report [--out FILE.html] [--from DIR]`: one HTML page of every scenario (html.ts). With
 * --from, the `--json` documents in DIR (*.json); without, every scenario is run here, one after another
 * (`plume bench S --json`, with --quick if given), and a scenario that fails is named in the page.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportHtml, type BenchDocument } from './html.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SCENARIOS = ['coldstart', 'density', 'transfer', 'fanout', 'batching', 'gateway', 'ocr', 'isolation', 'wasi', 'trace'];

export interface ReportOptions {
  readonly out: string;
  readonly from?: string;
  readonly quick: boolean;
}

/** A --json document, or an error naming the file. */
export function readDocument(file: string): BenchDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TypeError(`${file}: not a JSON document of plume bench --json (${(err as Error).message})`, { cause: err });
  }
  const d = doc as Partial<BenchDocument>;
  if (typeof d.scenario !== 'string' || !Array.isArray(d.results)) {
    throw new TypeError(`${file}: not a document of plume bench --json (it needs 'scenario' and 'results')`);
  }
  return { ...(d as BenchDocument), source: file.split('/').pop()! };
}

export async function reportCommand(opts: ReportOptions): Promise<void> {
  const docs: BenchDocument[] = [];
  const notes: string[] = [];
  if (opts.from !== undefined) {
    const files = readdirSync(opts.from)
      .filter((f) => f.endsWith('.json'))
      .sort();
    if (files.length === 0) throw new TypeError(`--from ${opts.from}: no .json files there`);
    for (const f of files) docs.push(readDocument(join(opts.from, f)));
  } else {
    for (const s of SCENARIOS) {
      process.stderr.write(`report: running plume bench ${s}${opts.quick ? ' --quick' : ''} --json\n`);
      const r = spawnSync(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', MAIN, 'bench', s, '--json', ...(opts.quick ? ['--quick'] : [])],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      if (r.status === 0) docs.push(JSON.parse(r.stdout) as BenchDocument);
      else notes.push(`${s}: failed (exit ${r.status ?? r.signal}); see its stderr`);
    }
  }
  const out = resolve(opts.out);
  writeFileSync(out, await reportHtml(docs, notes));
  process.stderr.write(`report: ${docs.length} scenarios → ${out}\n`);
}

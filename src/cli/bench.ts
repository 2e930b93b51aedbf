/** `plume bench <scenario>`: one JSON document on stdout with --json; a table otherwise. Progress goes to stderr. */
import { coldstart } from '../../bench/coldstart.ts';
import { density } from '../../bench/density.ts';
import { report, table, type CaseResult } from '../../bench/report.ts';

interface BenchOptions {
  json?: boolean;
  quick?: boolean;
  instances?: number;
}

const scenarios: Record<string, (opts: BenchOptions) => Promise<CaseResult[]> | CaseResult[]> = {
  coldstart: (opts) => coldstart({ quick: opts.quick ?? false, progress: (label) => process.stderr.write(`  ${label}…\n`) }),
  density: (opts) => density(opts.instances ?? (opts.quick ? 2000 : 25_000)),
};

export async function benchCommand(scenario: string, opts: BenchOptions): Promise<void> {
  const run = scenarios[scenario];
  if (!run) throw new TypeError(`unknown scenario '${scenario}' (known: ${Object.keys(scenarios).join(', ')})`);
  process.stderr.write(`plume bench ${scenario}\n`);
  const r = report(scenario, await run(opts));
  if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`${table(r)}\n`);
}

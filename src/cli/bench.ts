/** `plume bench <scenario>`: one JSON document on stdout with --json; a table otherwise. Progress goes to stderr. */
import { coldstart } from '../../bench/coldstart.ts';
import { density } from '../../bench/density.ts';
import { publishedFan, publishedSequential } from '../../bench/cwasi.ts';
import { fanout } from '../../bench/fanout.ts';
import { report, table, type CaseResult } from '../../bench/report.ts';
import { transfer } from '../../bench/transfer.ts';

interface BenchOptions {
  json?: boolean;
  quick?: boolean;
  instances?: number;
}

const progress = (label: string): void => void process.stderr.write(`  ${label}…\n`);

const scenarios: Record<string, (opts: BenchOptions) => Promise<CaseResult[]> | CaseResult[]> = {
  coldstart: (opts) => coldstart({ quick: opts.quick ?? false, progress }),
  density: (opts) => density(opts.instances ?? (opts.quick ? 2000 : 25_000)),
  transfer: (opts) => transfer({ quick: opts.quick ?? false, progress }),
  fanout: (opts) => fanout({ quick: opts.quick ?? false, progress }),
};

/** Published numbers of the systems Plume competes with, printed beside its own (never in the JSON). */
const references: Record<string, () => string> = {
  fanout: () => {
    const lines = (['fanout', 'fanin'] as const).flatMap((kind) => {
      const r = publishedFan(kind);
      return r ? [`${kind.padEnd(8)}${String(r.cwasi_ms).padEnd(10)}${String(r.openfaas_ms).padEnd(12)}${r.wasmedge_ms}`] : [];
    });
    return lines.length
      ? ['CWASI (SEC 2023), 2 MB, N = 100…500, mean ms per request:', 'case    cwasi     openfaas    wasmedge', ...lines].join('\n')
      : '';
  },
  transfer: () => {
    const rows = publishedSequential();
    if (rows.length === 0) return '';
    const lines = rows.map(
      (r) => `${String(r.size_mb).padEnd(8)}${String(r.cwasi_ms).padEnd(10)}${String(r.openfaas_ms).padEnd(12)}${r.wasmedge_ms}`,
    );
    return ['CWASI (SEC 2023), sequential A→B, mean ms:', 'size_mb cwasi     openfaas    wasmedge', ...lines].join('\n');
  },
};

export async function benchCommand(scenario: string, opts: BenchOptions): Promise<void> {
  const run = scenarios[scenario];
  if (!run) throw new TypeError(`unknown scenario '${scenario}' (known: ${Object.keys(scenarios).join(', ')})`);
  process.stderr.write(`plume bench ${scenario}\n`);
  const r = report(scenario, await run(opts));
  const reference = references[scenario]?.() ?? '';
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    if (reference) process.stderr.write(`${reference}\n`);
  } else process.stdout.write(`${table(r)}\n${reference ? `\n${reference}\n` : ''}`);
}

/** `plume bench <scenario>`: one JSON document on stdout with --json; a table otherwise. Progress goes to stderr. */
import { batching, batchingVerdict } from '../../bench/batching.ts';
import { clusterBench, clusterVerdict } from '../../bench/cluster.ts';
import { coldstart } from '../../bench/coldstart.ts';
import { density } from '../../bench/density.ts';
import { publishedFan, publishedSequential } from '../../bench/cwasi.ts';
import { fanout } from '../../bench/fanout.ts';
import { gateway, gatewayVerdict } from '../../bench/gateway.ts';
import { isolation, isolationVerdict } from '../../bench/isolation.ts';
import { ocrBench, ocrVerdict } from '../../bench/ocr.ts';
import { report, table, type CaseResult } from '../../bench/report.ts';
import { transfer } from '../../bench/transfer.ts';
import { TRACE_CASES, traceBench, type TraceCaseName } from '../../bench/trace/index.ts';
import { traceVerdict } from '../../bench/trace/verdict.ts';
import { wasiBench } from '../../bench/wasi.ts';
import { Progress } from './progress.ts';

interface BenchOptions {
  json?: boolean;
  quick?: boolean;
  instances?: number;
  workers?: number;
  coldRatio?: number;
  chain?: 'ocr' | 'text';
  arrivals?: 'poisson' | 'trace';
  minutes?: number;
  speedup?: number;
  seed?: number;
  functions?: number;
  work?: 'cpu' | 'wait';
  cases?: string;
  ppfConcurrency?: number;
  out?: string;
  from?: string;
}

/** A scenario's rows, and for some (trace) more top-level fields of the JSON document (settings, series). */
type ScenarioOutput = CaseResult[] | { results: CaseResult[]; extra: Record<string, unknown> };

/** The run's progress on stderr (a bar on a terminal without --json); scenarios report stages through `progress`. */
let bar = new Progress();
const progress = (label: string): void => bar.stage(label);

const scenarios: Record<string, (opts: BenchOptions) => Promise<ScenarioOutput> | ScenarioOutput> = {
  coldstart: (opts) => coldstart({ quick: opts.quick ?? false, progress }),
  density: (opts) => density(opts.instances ?? (opts.quick ? 2000 : 25_000)),
  transfer: (opts) => transfer({ quick: opts.quick ?? false, progress }),
  fanout: (opts) => fanout({ quick: opts.quick ?? false, progress }),
  batching: (opts) => batching({ quick: opts.quick ?? false, progress }),
  gateway: (opts) =>
    gateway({ quick: opts.quick ?? false, progress: bar, ...(opts.workers === undefined ? {} : { workers: opts.workers }) }),
  isolation: (opts) =>
    isolation({ quick: opts.quick ?? false, progress, ...(opts.workers === undefined ? {} : { workers: opts.workers }) }),
  wasi: (opts) => wasiBench({ quick: opts.quick ?? false, progress }),
  cluster: (opts) => clusterBench({ quick: opts.quick ?? false, progress }),
  ocr: (opts) =>
    ocrBench({
      quick: opts.quick ?? false,
      progress,
      ...(opts.coldRatio === undefined ? {} : { coldRatio: opts.coldRatio }),
      ...(opts.chain === undefined ? {} : { chain: opts.chain }),
      ...(opts.arrivals === undefined ? {} : { arrivals: opts.arrivals }),
    }),
  trace: (opts) =>
    traceBench({
      quick: opts.quick ?? false,
      progress,
      ...(opts.minutes === undefined ? {} : { minutes: opts.minutes }),
      ...(opts.speedup === undefined ? {} : { speedup: opts.speedup }),
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      ...(opts.functions === undefined ? {} : { functions: opts.functions }),
      ...(opts.work === undefined ? {} : { work: opts.work }),
      ...(opts.cases === undefined ? {} : { cases: traceCases(opts.cases) }),
      ...(opts.ppfConcurrency === undefined ? {} : { ppfConcurrency: opts.ppfConcurrency }),
    }),
};

function traceCases(list: string): TraceCaseName[] {
  const names = list.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(TRACE_CASES as readonly string[]).includes(n))
      throw new TypeError(`--cases: unknown case '${n}' (known: ${TRACE_CASES.join(', ')})`);
  }
  return names as TraceCaseName[];
}

/** Published numbers of the systems Plume competes with, or the issue's targets, printed beside the results (never in the JSON). */
const references: Record<string, (results: readonly CaseResult[]) => string> = {
  batching: batchingVerdict,
  cluster: clusterVerdict,
  isolation: isolationVerdict,
  gateway: gatewayVerdict,
  ocr: ocrVerdict,
  trace: traceVerdict,
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
  if (scenario === 'report') {
    const { reportCommand } = await import('../../bench/report/command.ts');
    return reportCommand({
      out: opts.out ?? 'report.html',
      quick: opts.quick ?? false,
      ...(opts.from === undefined ? {} : { from: opts.from }),
    });
  }
  const run = scenarios[scenario];
  if (!run) throw new TypeError(`unknown scenario '${scenario}' (known: ${Object.keys(scenarios).join(', ')}, report)`);
  process.stderr.write(`plume bench ${scenario}\n`);
  bar = new Progress({ json: opts.json ?? false });
  let output: ScenarioOutput;
  try {
    output = await run(opts);
  } finally {
    bar.stop();
  }
  const r = Array.isArray(output) ? report(scenario, output) : { ...report(scenario, output.results), ...output.extra };
  const reference = references[scenario]?.(r.results) ?? '';
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    if (reference) process.stderr.write(`${reference}\n`);
  } else process.stdout.write(`${table(r)}\n${reference ? `\n${reference}\n` : ''}`);
}

/** The targets (issue 14) read off a trace run's rows, for the human output (never in the JSON). */
import { round, type CaseResult } from '../report.ts';

export function traceVerdict(results: readonly CaseResult[]): string {
  const row = (c: string): CaseResult | undefined => results.find((r) => r.case === c);
  const num = (r: CaseResult | undefined, k: string): number => Number(r?.[k] ?? NaN);
  const plume = row('plume');
  if (!plume) return '';
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  /** How many times lower Plume's value is (∞ when Plume's is 0 and the other's is not). */
  const lower = (other: CaseResult, k: string): number => {
    const p = num(plume, k);
    const o = num(other, k);
    return p === 0 ? (o === 0 ? 1 : Infinity) : round(o / p);
  };
  const lines = ['targets (issue 14):'];
  const ppf = row('process-per-function');
  if (ppf) {
    for (const [k, label, target] of [
      ['p99_ms', 'p99', 20],
      ['memory_mb_s', 'memory-seconds', 10],
      ['cold_share', 'cold-start share', 10],
    ] as const) {
      const x = lower(ppf, k);
      lines.push(
        `  vs process-per-function ${label}: ${x}× lower (${num(plume, k)} vs ${num(ppf, k)}), target ≥ ${target}×: ${mark(x >= target)}`,
      );
    }
  }
  const wd = row('workerd');
  if (wd) {
    for (const [k, label] of [
      ['p99_ms', 'p99'],
      ['memory_mb_s', 'memory-seconds'],
      ['peak_rss_mb', 'peak RSS'],
    ] as const) {
      const ratio = round(num(plume, k) / num(wd, k));
      lines.push(
        `  vs workerd ${label}: plume/workerd = ${ratio} (${num(plume, k)} vs ${num(wd, k)}), target ≤ 1.5: ${mark(ratio <= 1.5)}`,
      );
    }
  }
  return lines.join('\n');
}

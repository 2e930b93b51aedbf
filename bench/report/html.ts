/**
 * The benchmark report: one self-contained HTML page (inline CSS and SVG, no script) with each scenario's
 * table and its charts (charts.ts), from the `--json` documents of `plume bench` (ARCHITECTURE.md).
 */
import { publishedFan, publishedSequential } from '../cwasi.ts';
import { bars, latencyCdf, lines, type Chart, type Row } from './charts.ts';

export interface BenchDocument {
  readonly scenario: string;
  readonly node: string;
  readonly cpus: number;
  readonly results: Row[];
  readonly workload?: Record<string, number | string>;
  readonly series?: readonly TraceSeries[];
  /** Where the document came from (a file name), for the page. */
  readonly source?: string;
}

interface TraceSeries {
  readonly case: string;
  readonly latency_cdf: readonly (readonly [number, number])[];
  readonly memory: readonly (readonly [number, number])[];
  readonly minutes: readonly { minute: number; offered: number; completed: number; cold: number }[];
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function table(rows: readonly Row[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = keys.map((k) => `<th>${escape(k)}</th>`).join('');
  const body = rows.map((r) => `<tr>${keys.map((k) => `<td>${escape(String(r[k] ?? ''))}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

/** The charts a scenario's document supports. */
async function charts(doc: BenchDocument): Promise<Chart[]> {
  const out: Chart[] = [];
  const series = doc.series ?? [];
  if (series.length > 0) {
    const speedup = Number(doc.workload?.['speedup'] ?? 1);
    out.push(
      await latencyCdf(
        'Latency CDF per case (end to end)',
        series.flatMap((s) => s.latency_cdf.map(([latency_ms, share]) => ({ case: s.case, latency_ms, share }))),
      ),
    );
    out.push(
      await lines(
        'Cold starts over trace time',
        series.flatMap((s) => s.minutes.map((m) => ({ case: s.case, minute: m.minute, cold: m.cold }))),
        'minute',
        'cold',
        'trace minute',
        'cold starts (restores included)',
      ),
    );
    out.push(
      await lines(
        "Memory over time (RSS of the case's processes)",
        series.flatMap((s) => s.memory.map(([t, mb]) => ({ case: s.case, trace_minute: Number(((t * speedup) / 60).toFixed(3)), mb }))),
        'trace_minute',
        'mb',
        'trace minute',
        'MB',
        false,
        false,
      ),
    );
    const offered = series[0]!.minutes.map((m) => ({ case: 'offered', minute: m.minute, rps: (m.offered * speedup) / 60 }));
    out.push(
      await lines(
        'Throughput vs offered rate, per trace minute (completions by the minute they finished)',
        [
          ...offered,
          ...series.flatMap((s) => s.minutes.map((m) => ({ case: s.case, minute: m.minute, rps: (m.completed * speedup) / 60 }))),
        ],
        'minute',
        'rps',
        'trace minute',
        'requests/s (wall)',
      ),
    );
  }
  const swept = doc.results.filter((r) => typeof r['rate_rps'] === 'number' && typeof r['throughput_rps'] === 'number');
  if (swept.length > 0) {
    out.push(await lines('Throughput vs offered rate', swept, 'rate_rps', 'throughput_rps', 'offered (req/s)', 'completed (req/s)'));
  }
  if (doc.scenario === 'transfer') out.push(await transferVsCwasi(doc.results));
  if (doc.scenario === 'fanout') out.push(await fanVsCwasi(doc.results));
  return out;
}

/** CWASI's sequential A→B means beside Plume's transfer p50 at the sizes both measured. */
function transferVsCwasi(results: readonly Row[]): Promise<Chart> {
  const published = publishedSequential();
  const sizes = new Set(results.map((r) => Number(r['size_mb'])));
  const rows: Row[] = [
    ...published
      .filter((p) => sizes.has(p.size_mb))
      .flatMap((p) => [
        { case: 'CWASI (published)', size_mb: p.size_mb, ms: p.cwasi_ms },
        { case: 'OpenFaaS (published)', size_mb: p.size_mb, ms: p.openfaas_ms },
        { case: 'WasmEdge (published)', size_mb: p.size_mb, ms: p.wasmedge_ms },
      ]),
    ...results
      .filter((r) => r['case'] !== 'memcpy' && r['case'] !== 'tcp-raw') // baselines, not systems
      .map((r) => ({ case: `plume ${r['case']}`, size_mb: Number(r['size_mb']), ms: Number(r['p50_ms']) })),
  ];
  return bars(
    'A→B transfer: Plume (p50) beside CWASI SEC 2023 (mean)',
    rows.filter((r) => Number(r['ms']) > 0),
    'size_mb',
    'ms',
    'ms (log)',
  );
}

/** CWASI's 2 MB fan-out / fan-in per-request means beside Plume's. */
function fanVsCwasi(results: readonly Row[]): Promise<Chart> {
  const rows: Row[] = [];
  for (const kind of ['fanout', 'fanin'] as const) {
    const p = publishedFan(kind);
    if (p) {
      rows.push({ case: 'CWASI (published)', kind, ms: p.cwasi_ms }, { case: 'OpenFaaS (published)', kind, ms: p.openfaas_ms });
      rows.push({ case: 'WasmEdge (published)', kind, ms: p.wasmedge_ms });
    }
    const mine = results.filter((r) => r['case'] === kind).map((r) => Number(r['mean_ms']));
    if (mine.length) rows.push({ case: 'plume', kind, ms: mine.reduce((a, b) => a + b, 0) / mine.length });
  }
  return bars(
    '2 MB fan-out / fan-in per request: Plume beside CWASI SEC 2023',
    rows.filter((r) => Number(r['ms']) > 0),
    'kind',
    'ms',
    'ms per request (log)',
  );
}

/** CWASI's figures on their own, when the report has no transfer or fan-out run to set beside them. */
async function cwasiAlone(): Promise<Chart> {
  const rows: Row[] = publishedSequential().flatMap((p) => [
    { case: 'CWASI', size_mb: p.size_mb, ms: p.cwasi_ms },
    { case: 'OpenFaaS', size_mb: p.size_mb, ms: p.openfaas_ms },
    { case: 'WasmEdge', size_mb: p.size_mb, ms: p.wasmedge_ms },
  ]);
  return bars('CWASI SEC 2023, sequential A→B (published means)', rows, 'size_mb', 'ms', 'ms (log)');
}

export async function reportHtml(docs: readonly BenchDocument[], notes: readonly string[] = []): Promise<string> {
  const sections: string[] = [];
  const seen = new Map<string, number>();
  for (const doc of docs) {
    // A scenario may appear more than once (several runs): each section keeps an id of its own.
    const n = (seen.get(doc.scenario) ?? 0) + 1;
    seen.set(doc.scenario, n);
    const id = n === 1 ? doc.scenario : `${doc.scenario}-${n}`;
    const figures = (await charts(doc)).map(
      (c) => `<figure data-points="${c.points}"><figcaption>${escape(c.title)}</figcaption>${c.svg}</figure>`,
    );
    const settings = doc.workload
      ? `<p class="meta">${Object.entries(doc.workload)
          .map(([k, v]) => `${escape(k)} = ${escape(String(v))}`)
          .join(' · ')}</p>`
      : '';
    sections.push(
      `<section id="${escape(id)}"><h2>${escape(doc.scenario)}</h2>` +
        `<p class="meta">node ${escape(doc.node)}, ${doc.cpus} cpus${doc.source ? `, from ${escape(doc.source)}` : ''}</p>${settings}` +
        `${table(doc.results)}<div class="charts">${figures.join('\n')}</div></section>`,
    );
  }
  if (!docs.some((d) => d.scenario === 'transfer' || d.scenario === 'fanout')) {
    const c = await cwasiAlone();
    sections.push(
      `<section id="cwasi"><h2>CWASI's published figures</h2><p class="meta">no transfer or fanout run in this report</p>` +
        `<div class="charts"><figure data-points="${c.points}"><figcaption>${escape(c.title)}</figcaption>${c.svg}</figure></div></section>`,
    );
  }
  const noteList = notes.length ? `<ul class="notes">${notes.map((n) => `<li>${escape(n)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plume benchmark report</title>
<style>
body { font: 14px/1.4 sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.meta { color: #666; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1em; }
figure svg { width: 100%; height: auto; }
.table { overflow-x: auto; }
figure { margin: 0; border: 1px solid #eee; padding: 0.5em; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
</style></head>
<body><h1>Plume benchmark report</h1>
<p class="meta">Generated by <code>plume bench report</code>. Charts: Vega-Lite, rendered to SVG offline.</p>
${noteList}
${sections.join('\n')}
</body></html>
`;
}

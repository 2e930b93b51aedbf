/**
 * Charts of the benchmark report, drawn offline: a Vega-Lite spec per chart, compiled to Vega and rendered
 * to SVG in Node (vega's headless `renderer: 'none'` view), so the report needs no script, font or network
 * at view time. Every chart is a plain list of data rows and an encoding.
 */
import { compile, type TopLevelSpec } from 'vega-lite';
import { parse, View } from 'vega';

export type Row = Readonly<Record<string, number | string>>;

export interface Chart {
  readonly title: string;
  readonly svg: string;
  readonly points: number;
}

const base = { width: 440, height: 240, background: 'white', config: { font: 'sans-serif', legend: { labelLimit: 240 } } } as const;

export async function render(title: string, spec: Record<string, unknown>, rows: readonly Row[]): Promise<Chart> {
  // The figure's caption carries the title. The same case gets the same colour in every chart.
  const cases = [...new Set(rows.map((r) => String(r['case'])))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const encoding = spec['encoding'] as Record<string, Record<string, unknown>> | undefined;
  const color = encoding?.['color'] ? { color: { ...encoding['color'], scale: { domain: cases, range: palette(cases) } } } : {};
  const full = { ...base, ...spec, encoding: { ...encoding, ...color }, data: { values: rows.map((r) => ({ ...r })) } } as TopLevelSpec;
  const view = new View(parse(compile(full).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return { title, svg, points: rows.length };
}

const KNOWN = ['offered', 'plume', 'process-per-function', 'workerd', 'direct'];
const COLORS = ['#888888', '#1f77b4', '#ff7f0e', '#d62728', '#2ca02c'];
const OTHERS = ['#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#aec7e8', '#ffbb78', '#98df8a', '#c5b0d5'];
const rank = (c: string): number => (KNOWN.indexOf(c) + 1 || KNOWN.length + 1) - 1;

function palette(cases: readonly string[]): string[] {
  let other = 0;
  return cases.map((c) => (KNOWN.includes(c) ? COLORS[KNOWN.indexOf(c)]! : OTHERS[other++ % OTHERS.length]!));
}

/** Cumulative share of requests under each latency, one line per case (log-scaled latency). */
export function latencyCdf(title: string, rows: readonly Row[]): Promise<Chart> {
  return render(
    title,
    {
      mark: { type: 'line', interpolate: 'step-after', point: false },
      encoding: {
        x: { field: 'latency_ms', type: 'quantitative', scale: { type: 'log' }, title: 'end-to-end latency (ms, log)' },
        y: { field: 'share', type: 'quantitative', title: 'share of requests ≤ x' },
        color: { field: 'case', type: 'nominal' },
      },
    },
    rows,
  );
}

/** One line per case of `y` over `x`, with a point at every row. */
export function lines(
  title: string,
  rows: readonly Row[],
  x: string,
  y: string,
  xTitle: string,
  yTitle: string,
  logY = false,
  points = true,
): Promise<Chart> {
  return render(
    title,
    {
      mark: { type: 'line', point: points },
      encoding: {
        x: { field: x, type: 'quantitative', title: xTitle },
        y: { field: y, type: 'quantitative', title: yTitle, ...(logY ? { scale: { type: 'log' } } : {}) },
        color: { field: 'case', type: 'nominal' },
      },
    },
    rows,
  );
}

/** Grouped bars: `y` per `group` (x axis), one bar per `case` (log-scaled y). */
export function bars(title: string, rows: readonly Row[], group: string, y: string, yTitle: string): Promise<Chart> {
  return render(
    title,
    {
      mark: 'bar',
      encoding: {
        x: { field: group, type: 'ordinal', title: group },
        xOffset: { field: 'case', type: 'nominal' },
        y: { field: y, type: 'quantitative', title: yTitle, scale: { type: 'log' } },
        color: { field: 'case', type: 'nominal' },
      },
    },
    rows,
  );
}

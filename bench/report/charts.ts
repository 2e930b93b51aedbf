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

const base = { width: 520, height: 260, background: 'white', config: { font: 'sans-serif' } } as const;

export async function render(title: string, spec: Record<string, unknown>, rows: readonly Row[]): Promise<Chart> {
  const full = { ...base, ...spec, title, data: { values: rows.map((r) => ({ ...r })) } } as TopLevelSpec;
  const view = new View(parse(compile(full).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return { title, svg, points: rows.length };
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
): Promise<Chart> {
  return render(
    title,
    {
      mark: { type: 'line', point: true },
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

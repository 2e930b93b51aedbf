// A workflow's DAG as SVG: columns by depth from $input, one box per step, an edge per data or condition
// dependency labelled with the mode and bytes its last run moved along it.
import { fmt, html } from '../api.js';

const BOX_W = 168;
const BOX_H = 46;
const COL_GAP = 170;
const ROW_GAP = 40;
const PAD = 16;

/** Depth of each node: $input 0, a step one past its deepest source, $output past every step it reads. */
function layout(steps, edges) {
  const ids = ['$input', ...steps.map((s) => s.id), '$output'];
  const sources = new Map(ids.map((id) => [id, []]));
  for (const e of edges) sources.get(e.to)?.push(e.from);
  const depth = new Map([['$input', 0]]);
  const depthOf = (id, seen = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0; // a cycle cannot pass validation; guard anyway
    seen.add(id);
    const d = 1 + Math.max(0, ...sources.get(id).map((s) => depthOf(s, seen)));
    depth.set(id, d);
    return d;
  };
  for (const id of ids) depthOf(id);
  const columns = [];
  for (const id of ids) (columns[depth.get(id)] ??= []).push(id);
  const tallest = Math.max(...columns.map((c) => c?.length ?? 0));
  const height = PAD * 2 + tallest * BOX_H + (tallest - 1) * ROW_GAP;
  const at = new Map();
  columns.forEach((col, d) => {
    const colH = col.length * BOX_H + (col.length - 1) * ROW_GAP;
    col.forEach((id, i) => at.set(id, { x: PAD + d * (BOX_W + COL_GAP), y: (height - colH) / 2 + i * (BOX_H + ROW_GAP) }));
  });
  return { at, width: PAD * 2 + columns.length * BOX_W + (columns.length - 1) * COL_GAP, height };
}

export function Dag({ workflow }) {
  const { steps, edges, lastRun } = workflow;
  const { at, width, height } = layout(steps, edges);
  const byId = new Map(steps.map((s) => [s.id, s]));
  const ran = new Map((lastRun?.steps ?? []).map((s) => [s.id, s]));
  const hops = (from, to) => (lastRun?.edges ?? []).filter((e) => e.from === from && e.to === to);
  return html`
    <svg class="dag" width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${`DAG of ${workflow.name}`}>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      ${edges.map((e) => {
        const a = at.get(e.from);
        const b = at.get(e.to);
        if (!a || !b) return null;
        const x1 = a.x + BOX_W;
        const y1 = a.y + BOX_H / 2;
        const x2 = b.x;
        const y2 = b.y + BOX_H / 2;
        const mx = (x1 + x2) / 2;
        // Two short lines per hop (mode; bytes) fit between the columns.
        const label = hops(e.from, e.to).flatMap((h) => [h.mode, `${fmt.bytes(h.bytesMoved)} moved · ${fmt.bytes(h.bytesCopied)} copied`]);
        return html`<g class=${`edge ${e.kind}`} data-edge=${`${e.from}->${e.to}`}>
          <path d=${`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`} marker-end="url(#arrow)" />
          ${label.map((t, i) => html`<text x=${mx} y=${(y1 + y2) / 2 - 6 - (label.length - 1 - i) * 12} text-anchor="middle" class="edge-label">${t}</text>`)}
        </g>`;
      })}
      ${[...at].map(([id, p]) => {
        const step = byId.get(id);
        const run = ran.get(id);
        const cls = step ? `box step ${run ? run.status : ''}` : 'box io';
        return html`<g class=${cls} data-node=${id}>
          <rect x=${p.x} y=${p.y} width=${BOX_W} height=${BOX_H} rx="8" />
          <text x=${p.x + 10} y=${p.y + 19} class="box-title">${id}</text>
          <text x=${p.x + 10} y=${p.y + 36} class="box-sub">
            ${step ? `${step.function}${step.kind === 'call' ? '' : ` (${step.kind})`}${run ? ` · ${fmt.ms(run.endMs - run.startMs)}` : ''}` : id === '$input' ? 'request body' : 'response'}
          </text>
        </g>`;
      })}
    </svg>
  `;
}

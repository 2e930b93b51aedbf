// The applied workflows, each drawn as its DAG with the mode and bytes of every edge from its last run.
import { fmt, getJSON, html, usePoll } from '../api.js';
import { Dag } from './dag.js';

export function Workflows() {
  const { data, error } = usePoll(() => getJSON('/ui/api/workflows'), 3000);
  if (!data) return html`<p class="muted">${error ? error.message : 'Loading…'}</p>`;
  if (data.length === 0)
    return html`<p class="muted">No workflows are applied. Apply one with <code>plume workflow apply spec.yaml</code>.</p>`;
  return data.map(
    (w) =>
      html`<section class="card workflow" data-workflow=${w.name}>
        <h2>
          ${w.name}
          ${
            w.lastRun
              ? html`<span class=${`tag ${w.lastRun.code === 'ok' ? 'good' : 'bad'}`}
                  >last run ${w.lastRun.code} in ${fmt.ms(w.lastRun.ms)}</span
                >`
              : html`<span class="tag">not run yet</span>`
          }
          <a class="small" href=${`#/invoke/workflow/${encodeURIComponent(w.name)}`}>Run</a>
        </h2>
        <div class="scroll"><${Dag} workflow=${w} /></div>
        ${w.lastRun ? '' : html`<p class="muted small">Edges show their mode and bytes after the first run.</p>`}
      </section>`,
  );
}

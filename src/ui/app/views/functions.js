// Every deployed function with its limits and the numbers /metrics serves (calls/s, p50/p99, errors, cold share).
import { fmt, getJSON, html, usePoll } from '../api.js';

export function Functions() {
  const { data, error } = usePoll(() => getJSON('/ui/api/functions'), 2000);
  if (!data) return html`<p class="muted">${error ? error.message : 'Loading…'}</p>`;
  if (data.length === 0)
    return html`<p class="muted">No functions are deployed. Deploy one with <code>plume deploy NAME module.wasm</code>.</p>`;
  return html`
    <section>
      <h2>Functions <span class="tag">${data.length}</span></h2>
      <table class="grid" data-table="functions">
        <thead>
          <tr>
            <th>Name</th>
            <th class="num">Version</th>
            <th>Kind</th>
            <th>Limits</th>
            <th class="num">Warm / busy</th>
            <th class="num">Calls</th>
            <th class="num">Calls/s</th>
            <th class="num">p50</th>
            <th class="num">p99</th>
            <th class="num">Errors</th>
            <th class="num">Cold</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${data.map(
            (f) =>
              html`<tr data-function=${f.name}>
                <td class="name">${f.name}${f.stateful ? html` <span class="tag">stateful</span>` : ''}</td>
                <td class="num">v${f.version}</td>
                <td>${f.kind}</td>
                <td class="muted small">${f.limits.memoryMb} MB · ${fmt.ms(f.limits.timeoutMs)} · ×${f.limits.maxConcurrency}</td>
                <td class="num">${f.instances.idle} / ${f.instances.busy}</td>
                <td class="num">${f.calls}</td>
                <td class="num">${fmt.rate(f.callsPerS)}</td>
                <td class="num">${fmt.seconds(f.p50S)}</td>
                <td class="num">${fmt.seconds(f.p99S)}</td>
                <td class=${`num ${f.errors ? 'bad' : ''}`}>${f.errors}</td>
                <td class="num">${fmt.pct(f.coldShare)}</td>
                <td class="actions">
                  <a href=${`#/invoke/function/${encodeURIComponent(f.name)}`}>Invoke</a>
                  <a href=${`#/logs/${encodeURIComponent(f.name)}`}>Logs</a>
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <p class="muted small">
        p50/p99 are estimated from the duration histogram of <code>/metrics</code> since the node started; calls/s over the last 30 s.
      </p>
    </section>
  `;
}

// A function's recent log lines (its stderr and plume log calls), newest last, refreshed every 2 s.
import { useEffect, useState } from 'preact/hooks';
import { getJSON, html, usePoll } from '../api.js';

export function Logs({ args }) {
  const [name, setName] = useState(args[0] ?? '');
  const { data: fns } = usePoll(() => getJSON('/ui/api/functions'), 5000);
  useEffect(() => {
    if (!name && fns?.length) setName(fns[0].name);
  }, [fns]);
  const { data, error } = usePoll(
    () => (name ? getJSON(`/ui/api/functions/${encodeURIComponent(name)}/logs?tail=500`) : Promise.resolve({ logs: [] })),
    2000,
    [name],
  );
  return html`
    <section>
      <h2>Logs</h2>
      <div class="toolbar">
        <label
          >Function
          <select value=${name} onChange=${(e) => setName(e.currentTarget.value)} data-select="function">
            ${(fns ?? []).map((f) => html`<option value=${f.name}>${f.name}</option>`)}
          </select></label
        >
        <span class="muted small">${data ? `${data.logs.length} lines` : ''}</span>
      </div>
      ${error ? html`<p class="error">${error.message}</p>` : ''}
      <div class="log" data-log=${name}>
        ${(data?.logs ?? []).map(
          (l) =>
            html`<div class=${`line ${l.level}`}>
              <span class="time">${new Date(l.time).toLocaleTimeString()}</span><span class="level">${l.level}</span
              ><span class="msg">${l.message}</span>
            </div>`,
        )}
        ${data && data.logs.length === 0 ? html`<p class="muted">No log lines yet.</p>` : ''}
      </div>
    </section>
  `;
}

// This node (workers, load, memory, warm instances) and the peers it links to (on a cluster: each member's cores and free memory).
import { fmt, getJSON, html, usePoll } from '../api.js';

export function Nodes() {
  const { data: n, error } = usePoll(() => getJSON('/ui/api/node'), 2000);
  if (!n) return html`<p class="muted">${error ? error.message : 'Loading…'}</p>`;
  const used = n.memory.total - n.memory.free;
  return html`
    <section>
      <h2>This node <span class="tag">${n.node}</span></h2>
      <div class="cards">
        ${stat('Workers', n.workers, `${n.cpus} CPUs`)}
        ${stat('Load (1 / 5 / 15 min)', n.load.map((l) => l.toFixed(2)).join(' / '), `${((n.load[0] / n.cpus) * 100).toFixed(0)}% of the CPUs`)}
        ${stat('Warm instances', n.instances.idle, `${n.instances.busy} busy now`)}
        ${stat('Queued calls', n.queueDepth, `${n.functions} functions`)}
        ${stat('Node memory (RSS)', fmt.bytes(n.memory.rss), `heap ${fmt.bytes(n.memory.heapUsed)}, buffers ${fmt.bytes(n.memory.arrayBuffers)}`)}
        ${stat('Host memory', `${fmt.bytes(used)} of ${fmt.bytes(n.memory.total)}`, `${fmt.bytes(n.memory.free)} free`)}
        ${stat('Uptime', fmt.duration(n.uptimeS), n.host)}
      </div>
    </section>
    <section>
      <h2>Linked peers</h2>
      ${
        n.peers.length === 0
          ? html`<p class="muted">
              No linked peers: this node serves on its own (see <code>plume up --peer</code> or <code>--redis</code>).
            </p>`
          : html`<table class="grid" data-table="peers">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>URL</th>
                  <th>Link</th>
                  <th class="num">Functions</th>
                  <th class="num">Cores</th>
                  <th class="num">Free memory</th>
                </tr>
              </thead>
              <tbody>
                ${n.peers.map(
                  (p) =>
                    html`<tr>
                      <td>${p.node}</td>
                      <td><code>${p.url}</code></td>
                      <td>${p.mode}</td>
                      <td class="num">${p.functions}</td>
                      <td class="num">${p.cores ?? '–'}</td>
                      <td class="num">${p.freeMemoryBytes === undefined ? '–' : fmt.bytes(p.freeMemoryBytes)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>
  `;
}

function stat(label, value, note) {
  return html`<div class="card stat">
    <div class="label">${label}</div>
    <div class="value">${value}</div>
    <div class="muted">${note}</div>
  </div>`;
}

// Live traces: a waterfall of the latest invocations and workflow runs (each with its steps and hops),
// streamed by Server-Sent Events from /ui/api/live. The node drops frames rather than wait for a slow page,
// and says how many; the page keeps only the latest rows.
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmt, html } from '../api.js';

const KEEP = 200;
const SHOW = 60;

export function Traces() {
  const [rows, setRows] = useState([]);
  const [dropped, setDropped] = useState(0);
  const [status, setStatus] = useState('connecting');
  const [filter, setFilter] = useState('all');
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const source = new EventSource('/ui/api/live');
    source.onopen = () => setStatus('live');
    // The browser retries a dropped stream by itself; a refused one (401: the session ended) it closes.
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    source.addEventListener('batch', (e) => {
      const frame = JSON.parse(e.data);
      if (frame.dropped) setDropped((d) => d + frame.dropped);
      if (pausedRef.current || frame.events.length === 0) return;
      setRows((old) => [...frame.events.slice(-KEEP).reverse(), ...old].slice(0, KEEP));
    });
    return () => source.close();
  }, []);

  const shown = rows.filter((r) => filter === 'all' || (filter === 'workflows' ? r.kind === 'workflow' : r.kind === 'call')).slice(0, SHOW);
  const start = Math.min(...shown.map((r) => r.at - r.ms));
  const end = Math.max(...shown.map((r) => r.at));
  const span = Math.max(end - start, 1);
  return html`
    <section>
      <h2>
        Live traces <span class=${`tag ${status === 'live' ? 'good' : ''}`} data-stream=${status}>${status}</span>
        ${
          dropped
            ? html`<span
                class="tag"
                title="The stream carries at most about 1,000 calls a second, and skips frames while the page falls behind"
                >${dropped} events not shown</span
              >`
            : ''
        }
      </h2>
      <div class="toolbar">
        ${['all', 'workflows', 'calls'].map(
          (f) => html`<label><input type="radio" name="filter" checked=${filter === f} onChange=${() => setFilter(f)} /> ${f}</label>`,
        )}
        <button class="quiet" onClick=${() => setPaused(!paused)}>${paused ? 'Resume' : 'Pause'}</button>
        <button class="quiet" onClick=${() => setRows([])}>Clear</button>
        <span class="muted small">${shown.length ? `window ${fmt.ms(span)}` : ''}</span>
      </div>
      ${
        shown.length === 0
          ? html`<p class="muted">Waiting for invocations… call a function or run a workflow.</p>`
          : html`<div class="waterfall">${shown.map((r) => html`<${Row} row=${r} start=${start} span=${span} />`)}</div>`
      }
    </section>
  `;
}

function Row({ row, start, span }) {
  const left = ((row.at - row.ms - start) / span) * 100;
  const width = Math.max((row.ms / span) * 100, 0.3);
  const name = row.kind === 'workflow' ? row.workflow : row.function;
  const ok = row.code === 'ok';
  return html`
    <div class=${`wf-row ${row.kind}`} data-kind=${row.kind} data-name=${name}>
      <div class="wf-label">
        <span class="tag">${row.kind === 'workflow' ? 'workflow' : 'call'}</span>
        <span class="name">${name}</span>
        <span class=${ok ? 'muted' : 'bad'}>${row.code}</span>
        <span class="muted"
          >${fmt.ms(row.ms)}${row.cold ? ' · cold' : ''}${row.queuedMs > 0.05 ? ` · queued ${fmt.ms(row.queuedMs)}` : ''}</span
        >
      </div>
      <div class="wf-track"><div class=${`wf-bar ${ok ? '' : 'failed'}`} style=${{ left: `${left}%`, width: `${width}%` }}></div></div>
    </div>
    ${row.kind === 'workflow' ? html`<${Hops} row=${row} />` : ''}
  `;
}

/** A run's steps, each a bar on the run's own time scale, and its edges with mode and bytes. */
function Hops({ row }) {
  const total = Math.max(row.ms, 0.001);
  return html`
    <div class="hops">
      ${row.steps.map(
        (s) =>
          html`<div class="wf-row step" data-step=${s.id}>
            <div class="wf-label">
              <span class="name">${s.id}</span
              ><span class="muted"
                >${s.function} · ${s.node} · ${fmt.ms(s.endMs - s.startMs)}${s.attempts > 1 ? ` · ${s.attempts} tries` : ''}</span
              >
              ${s.status === 'ok' ? '' : html`<span class="bad">${s.status}</span>`}
            </div>
            <div class="wf-track">
              <div
                class=${`wf-bar step ${s.status}`}
                style=${{ left: `${(s.startMs / total) * 100}%`, width: `${Math.max(((s.endMs - s.startMs) / total) * 100, 0.3)}%` }}
              ></div>
            </div>
          </div>`,
      )}
      <div class="edges small">
        ${row.edges.map(
          (e) =>
            html`<span class="hop" data-hop=${`${e.from}->${e.to}`}
              >${e.from} → ${e.to}: <b>${e.mode}</b> ${fmt.bytes(e.bytesMoved)} moved, ${fmt.bytes(e.bytesCopied)} copied</span
            >`,
        )}
        ${row.more ? html`<span class="muted">(+${row.more} more not shown)</span>` : ''}
      </div>
    </div>
  `;
}

// Invoke a function or run a workflow from the page: a text or file body; the output, status and timings.
import { useEffect, useState } from 'preact/hooks';
import { fmt, fromBase64, getJSON, html, post, showBytes, usePoll } from '../api.js';

export function Invoke({ args }) {
  const [kind, setKind] = useState(args[0] === 'workflow' ? 'workflow' : 'function');
  const [name, setName] = useState(args[1] ?? '');
  const [mode, setMode] = useState('text');
  const [text, setText] = useState('');
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const { data: targets } = usePoll(() => getJSON(kind === 'workflow' ? '/ui/api/workflows' : '/ui/api/functions'), 5000, [kind]);
  useEffect(() => {
    if (targets && !targets.some((t) => t.name === name)) setName(targets[0]?.name ?? '');
  }, [targets]);

  const invoke = async (e) => {
    e.preventDefault();
    if (!name) return;
    setBusy(true);
    try {
      const body = mode === 'file' ? (file ?? new Blob([])) : text;
      const r = await post(`/ui/api/invoke/${kind}/${encodeURIComponent(name)}`, body);
      setResult({ ...r, kind, name, sent: mode === 'file' ? (file?.size ?? 0) : new TextEncoder().encode(text).length });
    } catch (err) {
      setResult({ status: 0, error: { code: 'PLUME_ENET', message: err.message } });
    } finally {
      setBusy(false);
    }
  };

  return html`
    <section class="invoke">
      <h2>Invoke</h2>
      <form class="card form" onSubmit=${invoke}>
        <div class="row">
          <label
            >Kind
            <select value=${kind} onChange=${(e) => setKind(e.currentTarget.value)} data-select="kind">
              <option value="function">function</option>
              <option value="workflow">workflow</option>
            </select>
          </label>
          <label
            >Name
            <select value=${name} onChange=${(e) => setName(e.currentTarget.value)} data-select="target">
              ${(targets ?? []).map((t) => html`<option value=${t.name}>${t.name}</option>`)}
            </select>
          </label>
          <label><input type="radio" name="mode" checked=${mode === 'text'} onChange=${() => setMode('text')} /> text</label>
          <label><input type="radio" name="mode" checked=${mode === 'file'} onChange=${() => setMode('file')} /> file</label>
        </div>
        ${
          mode === 'text'
            ? html`<textarea
                rows="5"
                placeholder="Request body"
                value=${text}
                onInput=${(e) => setText(e.currentTarget.value)}
                data-input="body"
              ></textarea>`
            : html`<input type="file" onChange=${(e) => setFile(e.currentTarget.files[0] ?? null)} data-input="file" />`
        }
        <div>
          <button type="submit" disabled=${busy || !name} data-action="invoke">
            ${busy ? 'Running…' : kind === 'workflow' ? 'Run' : 'Invoke'}
          </button>
        </div>
      </form>
      ${result ? html`<${Result} result=${result} />` : ''}
    </section>
  `;
}

function Result({ result }) {
  const { status, roundTripMs, json, error } = result;
  const shown = json ? showBytes(fromBase64(json.output)) : null;
  return html`
    <div class="card result" data-result=${status}>
      <div class="cards">
        <div class="stat">
          <div class="label">Status</div>
          <div class=${`value ${status >= 400 || status === 0 ? 'bad' : 'good'}`} data-status>${status || 'failed'}</div>
        </div>
        ${
          json
            ? html`<div class="stat">
                <div class="label">On the node</div>
                <div class="value">${fmt.ms(json.ms)}</div>
              </div>`
            : ''
        }
        ${
          roundTripMs !== undefined
            ? html`<div class="stat">
                <div class="label">Round trip</div>
                <div class="value">${fmt.ms(roundTripMs)}</div>
              </div>`
            : ''
        }
        <div class="stat">
          <div class="label">Sent</div>
          <div class="value">${fmt.bytes(result.sent)}</div>
        </div>
        ${
          json
            ? html`<div class="stat">
                <div class="label">Output</div>
                <div class="value">${fmt.bytes(json.bytes)}</div>
                <div class="muted small">${json.contentType}</div>
              </div>`
            : ''
        }
      </div>
      ${error ? html`<p class="error" data-error=${error.code}><b>${error.code}</b> ${error.message}</p>` : ''}
      ${
        shown
          ? html`<h3>Output${shown.binary ? ' (binary, hex)' : ''}${json.truncated ? ' (first 1 MiB)' : ''}</h3>
              <pre class="output" data-output>${shown.text}</pre>`
          : ''
      }
      ${json?.trace ? html`<${TraceTable} trace=${json.trace} />` : ''}
    </div>
  `;
}

function TraceTable({ trace }) {
  return html`
    <h3>Trace</h3>
    <table class="grid">
      <thead>
        <tr>
          <th>Step</th>
          <th>Function</th>
          <th>Status</th>
          <th>Node</th>
          <th class="num">Start</th>
          <th class="num">Time</th>
          <th class="num">Tries</th>
        </tr>
      </thead>
      <tbody>
        ${trace.steps.map(
          (s) =>
            html`<tr>
              <td>${s.id}</td>
              <td>${s.function}</td>
              <td>${s.status}</td>
              <td>${s.node}</td>
              <td class="num">${fmt.ms(s.startMs)}</td>
              <td class="num">${fmt.ms(s.endMs - s.startMs)}</td>
              <td class="num">${s.attempts}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <table class="grid">
      <thead>
        <tr>
          <th>Edge</th>
          <th>Mode</th>
          <th class="num">Moved</th>
          <th class="num">Copied</th>
        </tr>
      </thead>
      <tbody>
        ${trace.edges.map(
          (e) =>
            html`<tr>
              <td>${e.from} → ${e.to}</td>
              <td>${e.mode}</td>
              <td class="num">${fmt.bytes(e.bytesMoved)}</td>
              <td class="num">${fmt.bytes(e.bytesCopied)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  `;
}

// The dashboard's calls to its node: JSON reads, and POSTs that carry the session's CSRF token.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(res) {
  try {
    const body = await res.json();
    return new ApiError(res.status, body.error?.code ?? 'PLUME_EHTTP', body.error?.message ?? res.statusText);
  } catch {
    return new ApiError(res.status, 'PLUME_EHTTP', res.statusText);
  }
}

/** A lost session (expired, node restarted) sends the page back to the login form. */
function checkSession(res) {
  if (res.status === 401) location.assign('/ui/login');
}

export async function loadSession() {
  const s = await getJSON('/ui/api/session');
  csrf = s.csrf;
  return s;
}

export async function getJSON(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  checkSession(res);
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/** POST raw bytes; answers the status, the round-trip time and the JSON body (or the error). */
export async function post(path, body) {
  const started = performance.now();
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'x-plume-csrf': csrf ?? '', 'content-type': 'application/octet-stream', accept: 'application/json' },
    body,
  });
  checkSession(res);
  const roundTripMs = performance.now() - started;
  if (!res.ok) return { status: res.status, roundTripMs, error: await errorOf(res) };
  return { status: res.status, roundTripMs, json: await res.json() };
}

/** Poll `load` every `ms` (waiting for each answer before the next): { data, error }. */
export function usePoll(load, ms, deps = []) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    let timer;
    const tick = async () => {
      try {
        const data = await load();
        if (live.current) setState({ data, error: undefined });
      } catch (error) {
        if (live.current) setState((s) => ({ data: s.data, error }));
      }
      if (live.current) timer = setTimeout(tick, ms);
    };
    tick();
    return () => {
      live.current = false;
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

export const fmt = {
  bytes(n) {
    if (n === null || n === undefined) return '—';
    if (n < 1024) return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = -1;
    do {
      v /= 1024;
      i++;
    } while (v >= 1024 && i < units.length - 1);
    return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
  },
  ms(n) {
    if (n === null || n === undefined) return '—';
    if (n < 1) return `${(n * 1000).toFixed(0)} µs`;
    if (n < 1000) return `${n.toFixed(n < 10 ? 2 : 1)} ms`;
    return `${(n / 1000).toFixed(2)} s`;
  },
  seconds(s) {
    return s === null || s === undefined ? '—' : fmt.ms(s * 1000);
  },
  pct(x) {
    return x === null || x === undefined ? '—' : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
  },
  rate(x) {
    return x === null || x === undefined ? '—' : x.toFixed(x < 10 ? 1 : 0);
  },
  duration(s) {
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${Math.floor(s % 60)}s`;
  },
};

/** Bytes from base64 (what the invoke API answers the output in). */
export function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Output as the page shows it: UTF-8 text when it is, else a hex dump of its start. */
export function showBytes(bytes) {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), binary: false };
  } catch {
    const head = [...bytes.subarray(0, 512)].map((b) => b.toString(16).padStart(2, '0'));
    const lines = [];
    for (let i = 0; i < head.length; i += 16) lines.push(`${i.toString(16).padStart(6, '0')}  ${head.slice(i, i + 16).join(' ')}`);
    return { text: lines.join('\n'), binary: true };
  }
}

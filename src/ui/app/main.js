// The dashboard's shell: a tab per view, chosen by the URL's hash (#/functions, #/invoke/function/echo).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html, loadSession, post } from './api.js';
import { Functions } from './views/functions.js';
import { Invoke } from './views/invoke.js';
import { Logs } from './views/logs.js';
import { Nodes } from './views/nodes.js';
import { Traces } from './views/traces.js';
import { Workflows } from './views/workflows.js';

const VIEWS = [
  { id: 'nodes', label: 'Nodes', view: Nodes },
  { id: 'functions', label: 'Functions', view: Functions },
  { id: 'workflows', label: 'Workflows', view: Workflows },
  { id: 'traces', label: 'Live traces', view: Traces },
  { id: 'logs', label: 'Logs', view: Logs },
  { id: 'invoke', label: 'Invoke', view: Invoke },
];

/** #/view/arg1/arg2 → { id, args } (args URI-decoded). */
function route() {
  const [id, ...args] = location.hash.replace(/^#\/?/, '').split('/');
  const known = VIEWS.find((v) => v.id === id) ?? VIEWS[0];
  return { id: known.id, args: args.map((a) => decodeURIComponent(a)) };
}

function App() {
  const [where, setWhere] = useState(route());
  useEffect(() => {
    const onHash = () => setWhere(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const current = VIEWS.find((v) => v.id === where.id);
  const View = current.view;
  const logout = async () => {
    await post('/ui/api/logout', '');
    location.assign('/ui/login');
  };
  return html`
    <header class="top">
      <h1><span class="logo">◆</span> Plume</h1>
      <nav>
        ${VIEWS.map((v) => html`<a href=${`#/${v.id}`} class=${v.id === where.id ? 'active' : ''} data-view=${v.id}>${v.label}</a>`)}
      </nav>
      <button class="quiet" onClick=${logout}>Log out</button>
    </header>
    <main data-current=${where.id}>
      <${View} args=${where.args} />
    </main>
  `;
}

loadSession().then(
  () => {
    // Preact renders beside what the container holds: take the loading note out first.
    const root = document.getElementById('app');
    root.replaceChildren();
    render(html`<${App} />`, root);
  },
  (err) => {
    const p = document.createElement('p');
    p.className = 'error pad';
    p.textContent = `The dashboard could not start: ${err.message}`;
    document.getElementById('app').replaceChildren(p);
  },
);

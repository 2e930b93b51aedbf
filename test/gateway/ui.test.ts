/** The dashboard's HTTP side (docs/ui.md): login, sessions, CSRF, what answers without a session, the API, the live stream. */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { events, type InvocationEvent } from '../../src/events.ts';
import { guest } from '../helpers.ts';
import { deployBothWays, errorOf, startNode, type TestNode } from './support.ts';

const TOKEN = 'ui-test-token';
const form = (token: string): RequestInit => ({
  method: 'POST',
  body: `token=${encodeURIComponent(token)}`,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  redirect: 'manual',
});

/** Log in; the cookie header to send and the session's CSRF token. */
async function login(url: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${url}/ui/login`, form(TOKEN));
  assert.equal(res.status, 303);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf } = (await (await fetch(`${url}/ui/api/session`, { headers: { cookie } })).json()) as { csrf: string };
  return { cookie, csrf };
}

/** Every route of /ui but the login form and its stylesheet: none may answer without a session. */
const GUARDED: [string, string][] = [
  ['GET', '/ui/api/session'],
  ['POST', '/ui/api/logout'],
  ['GET', '/ui/api/node'],
  ['GET', '/ui/api/functions'],
  ['GET', '/ui/api/functions/echo/logs'],
  ['GET', '/ui/api/workflows'],
  ['GET', '/ui/api/live'],
  ['POST', '/ui/api/invoke/function/echo'],
  ['POST', '/ui/api/invoke/workflow/both-ways'],
  ['GET', '/ui/api/no-such-route'],
  ['GET', '/ui/no-such-page'],
  ['PUT', '/ui/app/main.js'],
  ['DELETE', '/ui/api/functions'],
  ['GET', '/ui/app/main.js'],
  ['GET', '/ui/app/views/traces.js'],
  ['GET', '/ui/vendor/preact.js'],
];

describe('the dashboard over HTTP', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode({ adminToken: TOKEN, ui: { sessions: { max: 4 } } });
    await node.plume.deploy('echo', guest('wasi-echo.wasm'), { env: { GREETING: '<script>alert(1)</script>' } });
    await deployBothWays(node.plume);
  });
  after(() => node.close());

  describe('without a session', () => {
    for (const [method, path] of GUARDED) {
      it(`should refuse ${method} ${path} with 401, also with a forged cookie`, async () => {
        for (const headers of [{}, { cookie: 'plume_ui=forged-session-id' }, { cookie: 'plume_ui=' }]) {
          const res = await fetch(`${node.url}${path}`, { method, headers });
          assert.equal(res.status, 401, JSON.stringify(headers));
          assert.equal((await errorOf(res)).code, 'PLUME_EAUTH');
        }
      });
    }

    it('should refuse a wrong bearer token with 403 and a malformed one with 401', async () => {
      for (const [method, path] of GUARDED) {
        const wrong = await fetch(`${node.url}${path}`, { method, headers: { authorization: 'Bearer wrong' } });
        assert.equal(wrong.status, 403, path);
        const malformed = await fetch(`${node.url}${path}`, { method, headers: { authorization: 'Basic abc' } });
        assert.equal(malformed.status, 401, path);
      }
    });

    it('should redirect the page to the login form, which shows no data and carries a strict CSP', async () => {
      const page = await fetch(`${node.url}/ui/`, { redirect: 'manual' });
      assert.equal(page.status, 303);
      assert.equal(page.headers.get('location'), '/ui/login');
      const loginPage = await fetch(`${node.url}/ui/login`);
      assert.equal(loginPage.status, 200);
      assert.match(loginPage.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self' 'sha256-/);
      assert.equal(loginPage.headers.get('x-frame-options'), 'DENY');
      assert.doesNotMatch(await loginPage.text(), /echo|both-ways/);
    });

    it('should refuse a wrong, empty or oversized token at the login form and set no cookie', async () => {
      for (const token of ['wrong', '', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
        const res = await fetch(`${node.url}/ui/login`, form(token));
        assert.equal(res.status, 403, token);
        assert.equal(res.headers.get('set-cookie'), null);
        assert.match(await res.text(), /not the admin token/);
      }
      const big = await fetch(`${node.url}/ui/login`, form('x'.repeat(5000)));
      assert.equal(big.status, 413);
    });

    it('should refuse a login posted from another origin', async () => {
      const res = await fetch(`${node.url}/ui/login`, {
        ...form(TOKEN),
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' },
      });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('set-cookie'), null);
    });
  });

  describe('with a session', () => {
    it('should set an HttpOnly, SameSite=Strict cookie scoped to /ui and serve the page', async () => {
      const res = await fetch(`${node.url}/ui/login`, form(TOKEN));
      assert.equal(res.headers.get('location'), '/ui/');
      assert.match(res.headers.get('set-cookie')!, /^plume_ui=[\w-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      const page = await fetch(`${node.url}/ui/`, { headers: { cookie } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="importmap">/);
      assert.equal((await fetch(`${node.url}/ui/vendor/preact.js`, { headers: { cookie } })).status, 200);
    });

    it('should answer the views: node, functions with their numbers, workflows with their DAG', async () => {
      const { cookie } = await login(node.url);
      await node.plume.invoke('echo', 'x');
      const get = async (path: string): Promise<any> => (await fetch(`${node.url}${path}`, { headers: { cookie } })).json(); // eslint-disable-line @typescript-eslint/no-explicit-any
      const n = await get('/ui/api/node');
      assert.equal(n.workers, 1);
      assert.deepEqual(n.peers, []);
      const echo = (await get('/ui/api/functions')).find((f: { name: string }) => f.name === 'echo');
      assert.ok(echo.calls >= 1);
      assert.equal(echo.errors, 0);
      assert.ok(echo.p50S > 0 && echo.p99S >= echo.p50S);
      const [wf] = await get('/ui/api/workflows');
      assert.deepEqual(
        wf.edges.map((e: { from: string; to: string }) => `${e.from}->${e.to}`),
        ['$input->loud', '$input->back', 'loud->both', 'back->both', 'both->$output'],
      );
      const { logs } = await get('/ui/api/functions/echo/logs?tail=1');
      assert.equal(logs.length, 1);
      for (const tail of ['abc', '0', '-1', '1001', '1.5', '']) {
        const bad = await fetch(`${node.url}/ui/api/functions/echo/logs?tail=${tail}`, { headers: { cookie } });
        assert.equal(bad.status, 400, tail);
        assert.equal((await errorOf(bad)).code, 'PLUME_EINPUT');
      }
      assert.equal((await fetch(`${node.url}/ui/api/functions/nope/logs`, { headers: { cookie } })).status, 404);
    });

    it('should invoke only with the CSRF token, and only from the same origin', async () => {
      const { cookie, csrf } = await login(node.url);
      const invoke = (headers: Record<string, string>) =>
        fetch(`${node.url}/ui/api/invoke/function/echo`, { method: 'POST', body: '<b>hi</b>', headers: { cookie, ...headers } });
      assert.equal((await invoke({})).status, 403);
      assert.equal((await invoke({ 'x-plume-csrf': 'wrong' })).status, 403);
      assert.equal((await invoke({ 'x-plume-csrf': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') })).status, 403);
      assert.equal((await invoke({ 'x-plume-csrf': csrf, origin: 'http://evil.example' })).status, 403);
      const ok = await invoke({ 'x-plume-csrf': csrf, origin: node.url });
      assert.equal(ok.status, 200);
      const body = (await ok.json()) as { output: string; bytes: number; ms: number };
      assert.equal(Buffer.from(body.output, 'base64').toString(), '<b>hi</b>');
      assert.equal(body.bytes, 9);
      // The bearer token needs no CSRF token: it is not sent by a browser on its own.
      const bearer = await fetch(`${node.url}/ui/api/invoke/function/echo`, {
        method: 'POST',
        body: 'b',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(bearer.status, 200);
    });

    it('should answer a failed invocation in the Plume error shape and run a workflow with its trace', async () => {
      const { cookie, csrf } = await login(node.url);
      const post = (path: string, body: string) =>
        fetch(`${node.url}${path}`, { method: 'POST', body, headers: { cookie, 'x-plume-csrf': csrf } });
      const missing = await post('/ui/api/invoke/function/nope', 'x');
      assert.equal(missing.status, 404);
      assert.equal((await errorOf(missing)).code, 'PLUME_ENOFUNC');
      assert.equal((await errorOf(await post('/ui/api/invoke/workflow/nope', 'x'))).code, 'PLUME_ENOWORKFLOW');
      const run = (await (await post('/ui/api/invoke/workflow/both-ways', 'hello')).json()) as {
        output: string;
        trace: { edges: { from: string; to: string; mode: string; bytesMoved: number }[] };
      };
      assert.equal(Buffer.from(run.output, 'base64').toString(), 'HELLO olleh');
      assert.deepEqual(run.trace.edges.find((e) => e.from === 'loud')?.mode, 'embedded');
    });

    it('should end the session at logout', async () => {
      const { cookie, csrf } = await login(node.url);
      const out = await fetch(`${node.url}/ui/api/logout`, { method: 'POST', headers: { cookie, 'x-plume-csrf': csrf } });
      assert.match(out.headers.get('set-cookie')!, /Max-Age=0/);
      assert.equal((await fetch(`${node.url}/ui/api/node`, { headers: { cookie } })).status, 401);
    });

    it('should keep at most `max` sessions, the oldest going first', async () => {
      const first = await login(node.url);
      for (let i = 0; i < 4; i++) await login(node.url);
      assert.equal((await fetch(`${node.url}/ui/api/node`, { headers: { cookie: first.cookie } })).status, 401);
    });
  });

  describe('the live stream', () => {
    it('should stream each invocation and each workflow run with its hops', async () => {
      const res = await openLive(node.url);
      const frames = readFrames(res);
      await node.plume.runWorkflow('both-ways', 'abc');
      const seen: LiveEvent[] = [];
      for await (const frame of frames) {
        seen.push(...frame.events);
        if (seen.some((e) => e.kind === 'workflow')) break;
      }
      res.destroy();
      const run = seen.find((e) => e.kind === 'workflow')!;
      assert.equal(run.workflow, 'both-ways');
      assert.deepEqual(run.edges!.map((e) => e.from).sort(), ['$input', '$input', 'back', 'both', 'loud']);
      assert.deepEqual(
        seen
          .filter((e) => e.kind === 'call')
          .map((e) => e.function)
          .sort(),
        ['join', 'reverse', 'upper'],
      );
    });
  });
});

describe('the live stream under load', () => {
  it('should drop, and say how many, rather than hold events it cannot keep between frames', async () => {
    const node = await startNode({ adminToken: TOKEN, ui: { live: { maxPending: 100, flushMs: 50 } } });
    try {
      const res = await openLive(node.url);
      const frames = readFrames(res);
      for (let i = 0; i < 1000; i++) events.invocation.publish(call('burst'));
      let events_ = 0;
      let dropped = 0;
      for await (const frame of frames) {
        events_ += frame.events.length;
        dropped += frame.dropped;
        if (events_ + dropped >= 1000) break;
      }
      res.destroy();
      assert.equal(events_, 100);
      assert.equal(dropped, 900);
    } finally {
      await node.close();
    }
  });

  it('should drop frames for a client that does not read, then tell it how many it missed', async () => {
    const node = await startNode({ adminToken: TOKEN, ui: { live: { maxClientBytes: 64 * 1024, flushMs: 10 } } });
    try {
      const res = await openLive(node.url);
      res.pause();
      // Long names make big frames, so the socket's buffers fill in a moment.
      const big = 'x'.repeat(4000);
      let published = 0;
      for (let round = 0; round < 60; round++) {
        for (let i = 0; i < 100; i++, published++) events.invocation.publish(call(big));
        await new Promise((done) => setTimeout(done, 15));
      }
      await new Promise((done) => setTimeout(done, 50));
      res.resume();
      let received = 0;
      let dropped = 0;
      for await (const frame of readFrames(res)) {
        received += frame.events.length;
        dropped += frame.dropped;
        if (received + dropped >= published) break;
      }
      res.destroy();
      assert.ok(dropped > 0, 'a client that does not read misses frames');
      assert.equal(received + dropped, published);
      // The node kept serving meanwhile.
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    } finally {
      await node.close();
    }
  });

  it('should end open streams when the gateway closes, so the close does not hang', async () => {
    const node = await startNode({ adminToken: TOKEN });
    const res = await openLive(node.url);
    const ended = new Promise<void>((done) => res.on('end', done).resume());
    await node.close();
    await ended;
  });

  it('should lock an address out of the login form after too many wrong tokens, the right one included', async () => {
    const node = await startNode({ adminToken: TOKEN, ui: { login: { failures: 3, windowMs: 300 } } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${node.url}/ui/login`, form('wrong'))).status, 403);
      const locked = await fetch(`${node.url}/ui/login`, form(TOKEN));
      assert.equal(locked.status, 429);
      assert.equal(locked.headers.get('retry-after'), '1');
      assert.equal(locked.headers.get('set-cookie'), null);
      assert.equal((await errorOf(locked)).code, 'PLUME_EBUSY');
      await new Promise((done) => setTimeout(done, 350));
      assert.equal((await fetch(`${node.url}/ui/login`, form(TOKEN))).status, 303);
    } finally {
      await node.close();
    }
  });

  it('should serve no dashboard on a node without an admin token', async () => {
    const node = await startNode();
    try {
      for (const [method, path] of [['GET', '/ui/'], ['GET', '/ui/login'], ['POST', '/ui/login'], ...GUARDED]) {
        const res = await fetch(`${node.url}${path}`, { method: method!, redirect: 'manual' });
        assert.equal(res.status, 403, path);
        assert.equal((await errorOf(res)).code, 'PLUME_EFORBIDDEN');
      }
    } finally {
      await node.close();
    }
  });
});

function call(name: string): InvocationEvent {
  return { function: name, code: 'ok', ms: 1, queuedMs: 0, cold: false };
}

/** GET /ui/api/live with the bearer token, once its headers arrived. */
function openLive(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/ui/api/live`, { headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type']!, /^text\/event-stream/);
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `batch` frames of an event stream, parsed. */
interface LiveEvent {
  readonly kind: string;
  readonly workflow?: string;
  readonly function?: string;
  readonly edges?: readonly { readonly from: string }[];
}

async function* readFrames(res: IncomingMessage): AsyncGenerator<{ dropped: number; events: LiveEvent[] }> {
  let buffer = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buffer += chunk as string;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (data !== undefined) yield JSON.parse(data);
    }
  }
}

/** Asynchronous invocation: 202 + X-Call-Id, result retrieval, callbacks to a real HTTP server, bounded results. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { example, guest } from '../helpers.ts';
import { errorOf, startNode, type TestNode } from './support.ts';

interface Delivery {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A callback receiver: records every POST it gets and answers 204. */
async function receiver(): Promise<{ server: Server; url: string; next(): Promise<Delivery> }> {
  const waiting: ((d: Delivery) => void)[] = [];
  const arrived: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const d = { url: req.url!, headers: req.headers, body };
      const w = waiting.shift();
      if (w) w(d);
      else arrived.push(d);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    next: () => (arrived.length ? Promise.resolve(arrived.shift()!) : new Promise((r) => waiting.push(r))),
  };
}

async function result(url: string): Promise<Response> {
  for (;;) {
    const res = await fetch(url);
    if (res.status !== 202) return res;
    assert.equal(res.headers.get('x-call-status'), 'pending');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gateway asynchronous calls', () => {
  let node: TestNode;
  let hook: Awaited<ReturnType<typeof receiver>>;
  before(async () => {
    node = await startNode({ async: { maxResults: 3, callbacks: { allow: ['127.0.0.1'], attempts: 1 } } });
    hook = await receiver();
    await fetch(`${node.url}/system/functions/echo`, { method: 'PUT', body: readFileSync(example('c-echo/echo.wasm')) });
    await fetch(`${node.url}/system/functions/conf`, { method: 'PUT', body: readFileSync(guest('conformance-c.wasm')) });
  });
  after(async () => {
    await node.close();
    hook.server.close();
  });

  it('should accept with 202 and X-Call-Id, answer 202 while pending, then the output', async () => {
    const res = await fetch(`${node.url}/async-function/conf`, { method: 'POST', body: 'sleep:100' });
    assert.equal(res.status, 202);
    const id = res.headers.get('x-call-id')!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    const body = await res.json();
    assert.deepEqual(body, { callId: id, status: 'pending', result: `/async-function/conf/${id}` });

    const pending = await fetch(`${node.url}${body.result}`);
    assert.equal(pending.status, 202);
    assert.deepEqual(await pending.json(), { callId: id, status: 'pending' });

    const done = await result(`${node.url}${body.result}`);
    assert.equal(done.status, 200);
    assert.equal(done.headers.get('x-call-status'), 'done');
    assert.equal(done.headers.get('x-call-id'), id);
    assert.equal(await done.text(), 'slept');
  });

  it("should keep a failed call's error under its status", async () => {
    const res = await fetch(`${node.url}/async-function/conf`, { method: 'POST', body: 'fail' });
    const failed = await result(`${node.url}/async-function/conf/${res.headers.get('x-call-id')}`);
    assert.equal(failed.status, 500);
    assert.equal(failed.headers.get('x-call-status'), 'failed');
    assert.deepEqual(await errorOf(failed), { code: 'PLUME_EFAILED', message: "function 'conf' failed: custom failure" });
  });

  it('should POST the result to X-Callback-Url with the call id and status', async () => {
    const res = await fetch(`${node.url}/async-function/echo`, {
      method: 'POST',
      body: 'callback me',
      headers: { 'x-callback-url': `${hook.url}/done?tag=1` },
    });
    assert.equal(res.status, 202);
    const d = await hook.next();
    assert.equal(d.url, '/done?tag=1');
    assert.equal(d.body, 'em kcabllac');
    assert.equal(d.headers['x-call-id'], res.headers.get('x-call-id'));
    assert.equal(d.headers['x-function-name'], 'echo');
    assert.equal(d.headers['x-function-status'], '200');

    const failed = await fetch(`${node.url}/async-function/conf`, {
      method: 'POST',
      body: 'fail',
      headers: { 'x-callback-url': hook.url },
    });
    const f = await hook.next();
    assert.equal(f.headers['x-call-id'], failed.headers.get('x-call-id'));
    assert.equal(f.headers['x-function-status'], '500');
    assert.equal(f.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(f.body), { error: { code: 'PLUME_EFAILED', message: "function 'conf' failed: custom failure" } });
  });

  it('should keep the result retrievable when the callback receiver cannot be reached', async () => {
    const closed = await receiver();
    await new Promise<void>((done) => closed.server.close(() => done()));
    const res = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: 'abc', headers: { 'x-callback-url': closed.url } });
    const done = await result(`${node.url}/async-function/echo/${res.headers.get('x-call-id')}`);
    assert.equal(done.status, 200);
    assert.equal(await done.text(), 'cba');
  });

  it('should answer 404 for an unknown call id, a call of another function, and results past the bound', async () => {
    const unknown = await fetch(`${node.url}/async-function/echo/00000000-0000-0000-0000-000000000000`);
    assert.equal(unknown.status, 404);
    assert.equal((await errorOf(unknown)).code, 'PLUME_ENOCALL');

    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: String(i) });
      ids.push(res.headers.get('x-call-id')!);
      await (await result(`${node.url}/async-function/echo/${ids.at(-1)}`)).text();
    }
    const wrongFunction = await fetch(`${node.url}/async-function/conf/${ids[3]}`);
    assert.equal(wrongFunction.status, 404);
    assert.match((await errorOf(wrongFunction)).message, /of function 'conf'/);
    // maxResults is 3: the oldest of the four is gone, the newest three remain.
    assert.equal((await fetch(`${node.url}/async-function/echo/${ids[0]}`)).status, 404);
    for (const id of ids.slice(1)) assert.equal((await fetch(`${node.url}/async-function/echo/${id}`)).status, 200);
  });

  it('should expire results after their TTL', async () => {
    const short = await startNode({ async: { ttlMs: 50 } });
    try {
      await short.plume.deploy('echo', example('c-echo/echo.wasm'));
      const res = await fetch(`${short.url}/async-function/echo`, { method: 'POST', body: 'x' });
      const id = res.headers.get('x-call-id');
      assert.equal((await result(`${short.url}/async-function/echo/${id}`)).status, 200);
      await new Promise((r) => setTimeout(r, 80));
      const expired = await fetch(`${short.url}/async-function/echo/${id}`);
      assert.equal(expired.status, 404);
      assert.match((await errorOf(expired)).message, /unknown, or its result expired/);
    } finally {
      await short.close();
    }
  });
});

/**
 * Durable async calls (issue 11): the queue in a real Redis shared by two nodes, callback policy, signed
 * callbacks, dead letters, Redis down at accept, and the bytes bound of results (in Redis and in memory).
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RedisAsyncQueue } from '../../src/cluster/async-queue-redis.ts';
import { CallbackPolicy } from '../../src/gateway/callbacks.ts';
import type { GatewayOptions } from '../../src/gateway/index.ts';
import { example, guest } from '../helpers.ts';
import { runCli } from '../support/cli.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { errorOf, startNode, type TestNode } from './support.ts';

const SECRET = 'test-callback-secret';

interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A callback receiver answering `status` (204 by default) to every POST, recording each. */
async function receiver(status = 204): Promise<{ server: Server; url: string; got: Delivery[]; next(): Promise<Delivery> }> {
  const got: Delivery[] = [];
  const waiting: ((d: Delivery) => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const d = { headers: req.headers, body: Buffer.concat(chunks) };
      got.push(d);
      waiting.shift()?.(d);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    server,
    got,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    next: () => new Promise((r) => waiting.push(r)),
  };
}

/** What a receiver does (docs/gateway.md): recompute the HMAC over "t.callId.body", compare in constant time, refuse old timestamps. */
function verify(secret: string, d: Delivery, maxAgeS = 300): boolean {
  const header = String(d.headers['x-plume-signature'] ?? '');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > maxAgeS) return false;
  const mac = createHmac('sha256', secret)
    .update(`${m[1]}.${String(d.headers['x-call-id'])}.`)
    .update(d.body)
    .digest();
  return timingSafeEqual(mac, Buffer.from(m[2]!, 'hex'));
}

async function result(url: string): Promise<Response> {
  for (let i = 0; i < 500; i++) {
    const res = await fetch(url);
    if (res.status !== 202) return res;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${url} still pending`);
}

/** `n` echo calls of 50 bytes each, one after the other (each finished before the next): their ids. */
async function finishInOrder(node: TestNode, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: String(i).repeat(50) });
    ids.push(res.headers.get('x-call-id')!);
    await (await result(`${node.url}/async-function/echo/${ids.at(-1)}`)).arrayBuffer();
  }
  return ids;
}

async function deploy(node: TestNode): Promise<void> {
  await node.plume.deploy('echo', example('c-echo/echo.wasm'));
  await node.plume.deploy('conf', readFileSync(guest('conformance-c.wasm')));
}

// Each kept result counts 256 bytes plus its own: a bound of 1,000 holds three 50-byte results, not four.
describe('durable async calls on Redis', () => {
  let redis: RedisServer;
  let a: TestNode;
  let b: TestNode;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const options = (node: string, extra: Partial<GatewayOptions['async']> = {}): GatewayOptions => ({
    async: {
      node,
      redis: { url: redis.url, visibilityMs: 1000 },
      callbacks: { allow: ['127.0.0.1'], secret: SECRET, attempts: 3, backoffMs: 10 },
      ...extra,
    },
  });
  before(async () => {
    redis = await startRedis();
    hook = await receiver();
    a = await startNode(options('node-a'));
    b = await startNode(options('node-b'));
    await deploy(a);
    await deploy(b);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    hook?.server.close();
    await redis?.stop();
  });

  it('should accept on one node and answer the result on the other', async () => {
    const res = await fetch(`${a.url}/async-function/echo`, { method: 'POST', body: 'durable' });
    assert.equal(res.status, 202);
    const { callId } = (await res.json()) as { callId: string };
    const done = await result(`${b.url}/async-function/echo/${callId}`);
    assert.equal(done.status, 200);
    assert.equal(await done.text(), 'elbarud');
    assert.equal(done.headers.get('x-call-status'), 'done');
    assert.equal(done.headers.get('x-call-runs'), '1');
    assert.match(done.headers.get('x-call-node')!, /^node-[ab]$/);
  });

  it('should sign the callback so the receiver can verify it, and refuse a forged one', async () => {
    const next = hook.next();
    const res = await fetch(`${b.url}/async-function/echo`, { method: 'POST', body: 'signed', headers: { 'x-callback-url': hook.url } });
    const d = await next;
    assert.equal(d.headers['x-call-id'], res.headers.get('x-call-id'));
    assert.equal(d.body.toString(), 'dengis');
    assert.ok(verify(SECRET, d), `signature ${String(d.headers['x-plume-signature'])} should verify`);
    assert.equal(verify('another-secret', d), false);
    assert.equal(verify(SECRET, { ...d, body: Buffer.from('tampered') }), false);
    // A replay of an old delivery: the timestamp is part of what is signed, so it cannot be refreshed.
    assert.equal(verify(SECRET, d, -1), false);
  });

  it('should dead-letter a callback after its last attempt, listed by `plume async ls --failed`', async () => {
    const refusing = await receiver(500);
    try {
      const res = await fetch(`${a.url}/async-function/echo`, { method: 'POST', body: 'x', headers: { 'x-callback-url': refusing.url } });
      const id = res.headers.get('x-call-id')!;
      assert.equal((await result(`${a.url}/async-function/echo/${id}`)).status, 200);
      let failed: { id: string; attempts: number; lastError: string }[] = [];
      for (let i = 0; i < 200 && !failed.some((f) => f.id === id); i++) {
        await new Promise((r) => setTimeout(r, 20));
        failed = ((await (await fetch(`${b.url}/system/async/failed`)).json()) as { failed: typeof failed }).failed;
      }
      const letter = failed.find((f) => f.id === id);
      assert.ok(letter, 'the call should be in the dead-letter list');
      assert.equal(letter.attempts, 3);
      assert.equal(letter.lastError, 'the receiver answered 500');
      assert.equal(refusing.got.length, 3);
      const ls = await runCli(['async', 'ls', '--failed', '--url', b.url]);
      assert.equal(ls.status, 0, ls.stderr);
      assert.match(ls.stdout, new RegExp(`${id}\\s+echo\\s+200\\s+3\\s`));
      const all = await runCli(['async', 'ls', '--url', a.url]);
      assert.match(all.stdout, /^durable \(Redis\)/);
      assert.match(all.stdout, new RegExp(`${id}\\s+echo\\s+done\\s+200\\s+1\\s`));
    } finally {
      refusing.server.close();
    }
  });

  it('should keep a result over the per-result bound as a 413 error', async () => {
    // Its own Redis: the bound is the running node's, and a node of the other Redis could run the call.
    const own = await startRedis();
    const small = await startNode({ async: { node: 'node-small', redis: { url: own.url }, maxResultBytes: 4 } });
    try {
      await deploy(small);
      const res = await fetch(`${small.url}/async-function/echo`, { method: 'POST', body: 'too long' });
      const kept = await result(`${small.url}/async-function/echo/${res.headers.get('x-call-id')}`);
      assert.equal(kept.status, 413);
      assert.match((await errorOf(kept)).message, /is 8 bytes, more than the 4 an async result may keep/);
      const fits = await fetch(`${small.url}/async-function/echo`, { method: 'POST', body: 'ok' });
      assert.equal(await (await result(`${small.url}/async-function/echo/${fits.headers.get('x-call-id')}`)).text(), 'ko');
    } finally {
      await small.close();
      await own.stop();
    }
  });

  it('should drop the oldest results once their bytes pass maxTotalBytes', async () => {
    const own = await startRedis();
    const node = await startNode({ async: { node: 'node-total', redis: { url: own.url }, maxTotalBytes: 1000 } });
    try {
      await deploy(node);
      const ids = await finishInOrder(node, 4);
      assert.equal((await fetch(`${node.url}/async-function/echo/${ids[0]}`)).status, 404);
      for (const id of ids.slice(1)) assert.equal((await fetch(`${node.url}/async-function/echo/${id}`)).status, 200);
    } finally {
      await node.close();
      await own.stop();
    }
  });

  it('should refuse with 429 once the backlog is full, and accept again when it drained', async () => {
    const own = await startRedis();
    const node = await startNode({ async: { node: 'node-full', redis: { url: own.url, maxBacklog: 1 } } });
    try {
      await deploy(node);
      const first = await fetch(`${node.url}/async-function/conf`, { method: 'POST', body: 'sleep:300' });
      assert.equal(first.status, 202);
      const full = await fetch(`${node.url}/async-function/conf`, { method: 'POST', body: 'sleep:1' });
      assert.equal(full.status, 429);
      const error = await errorOf(full);
      assert.equal(error.code, 'PLUME_EBUSY');
      assert.match(error.message, /the async queue is full \(at most 1 calls/);
      await (await result(`${node.url}/async-function/conf/${first.headers.get('x-call-id')}`)).arrayBuffer();
      let again: Response | undefined;
      for (let i = 0; i < 100 && again?.status !== 202; i++) {
        await new Promise((r) => setTimeout(r, 20));
        again = await fetch(`${node.url}/async-function/conf`, { method: 'POST', body: 'sleep:1' });
      }
      assert.equal(again!.status, 202);
    } finally {
      await node.close();
      await own.stop();
    }
  });

  it('should fail a call without running it again once it was started maxRuns times', async () => {
    const own = await startRedis();
    // Two nodes began the call and were lost before storing anything (their begin is all they did).
    const lost = new RedisAsyncQueue({ url: own.url, node: 'lost' });
    const job = {
      id: 'c0ffee00-0000-4000-8000-000000000000',
      function: 'echo',
      input: new Uint8Array(1),
      callbackUrl: undefined,
      acceptedAt: Date.now(),
    };
    await lost.accept(job);
    assert.deepEqual(await lost.begin(job, 'lost-1'), { finished: undefined, runs: 1 });
    assert.deepEqual(await lost.begin(job, 'lost-2'), { finished: undefined, runs: 2 });
    await lost.close();
    const node = await startNode({ async: { node: 'node-runs', redis: { url: own.url }, maxRuns: 2 } });
    try {
      await deploy(node);
      const res = await result(`${node.url}/async-function/echo/${job.id}`);
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('x-call-runs'), '3');
      const error = await errorOf(res);
      assert.equal(error.code, 'PLUME_EWORKER');
      assert.match(error.message, /was started 2 times and its node was lost each time/);
    } finally {
      await node.close();
      await own.stop();
    }
  });

  it('should answer 503 PLUME_ESTATE_UNAVAILABLE at accept while Redis is down, and accept again once it is back', async () => {
    await redis.stop();
    try {
      const refused = await fetch(`${a.url}/async-function/echo`, { method: 'POST', body: 'lost?' });
      assert.equal(refused.status, 503);
      assert.equal((await errorOf(refused)).code, 'PLUME_ESTATE_UNAVAILABLE');
      assert.equal(refused.headers.get('retry-after'), '1');
    } finally {
      await redis.restart();
    }
    let res: Response | undefined;
    for (let i = 0; i < 100 && res?.status !== 202; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await fetch(`${a.url}/async-function/echo`, { method: 'POST', body: 'back' });
    }
    assert.equal(res!.status, 202);
    const done = await result(`${b.url}/async-function/echo/${res!.headers.get('x-call-id')}`);
    assert.equal(await done.text(), 'kcab');
  });
});

describe('async results bounded by bytes in memory', () => {
  it('should drop the oldest results once their bytes pass maxTotalBytes, and keep large ones as 413', async () => {
    const node = await startNode({ async: { maxTotalBytes: 1000, maxResultBytes: 100 } });
    try {
      await deploy(node);
      const ids = await finishInOrder(node, 4);
      assert.equal((await fetch(`${node.url}/async-function/echo/${ids[0]}`)).status, 404);
      for (const id of ids.slice(1)) assert.equal((await fetch(`${node.url}/async-function/echo/${id}`)).status, 200);
      const big = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: 'y'.repeat(101) });
      const kept = await result(`${node.url}/async-function/echo/${big.headers.get('x-call-id')}`);
      assert.equal(kept.status, 413);
      assert.equal((await errorOf(kept)).code, 'PLUME_ETOOBIG');
    } finally {
      await node.close();
    }
  });
});

describe('async input bound', () => {
  it('should refuse an async input over maxInputBytes with 413, accepting nothing', async () => {
    const node = await startNode({ async: { maxInputBytes: 4 } });
    try {
      await deploy(node);
      const res = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: '12345' });
      assert.equal(res.status, 413);
      assert.match((await errorOf(res)).message, /an async call's input may be at most 4 bytes, got 5/);
      assert.deepEqual(((await (await fetch(`${node.url}/system/async`)).json()) as { calls: unknown[] }).calls, []);
      assert.equal((await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: '1234' })).status, 202);
    } finally {
      await node.close();
    }
  });
});

describe('callback addresses', () => {
  let node: TestNode;
  let allowed: TestNode;
  before(async () => {
    node = await startNode();
    // Deliveries to these go to port 9 on loopback, where nothing listens: one attempt, refused at once.
    allowed = await startNode({ async: { callbacks: { allow: ['127.0.0.2', '127.0.1.0/24', 'localhost'], attempts: 1 } } });
    await deploy(node);
    await deploy(allowed);
  });
  after(async () => {
    await node?.close();
    await allowed?.close();
  });

  const refused: [string, RegExp][] = [
    ['http://127.0.0.1:9/x', /resolves to 127\.0\.0\.1, which is not a public address/],
    ['http://169.254.169.254/latest/meta-data', /169\.254\.169\.254, which is not a public address/],
    ['http://10.0.0.5/x', /10\.0\.0\.5, which is not a public address/],
    ['http://192.168.1.1/x', /192\.168\.1\.1/],
    ['http://[::1]:8080/x', /::1, which is not a public address/],
    ['http://[::ffff:127.0.0.1]/x', /not a public address/],
    ['http://[fe80::1]/x', /fe80::1/],
    ['http://localhost:9/x', /host 'localhost' resolves to .*not a public address.*--callback-allow/],
    ['http://0.0.0.0/x', /0\.0\.0\.0/],
  ];
  for (const [url, message] of refused) {
    it(`should refuse ${url} with 400 before accepting anything`, async () => {
      const before = (await (await fetch(`${node.url}/system/async`)).json()) as { calls: unknown[] };
      const res = await fetch(`${node.url}/async-function/echo`, { method: 'POST', body: 'x', headers: { 'x-callback-url': url } });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('x-call-id'), null);
      const error = await errorOf(res);
      assert.equal(error.code, 'PLUME_EHEADER');
      assert.match(error.message, message);
      const after = (await (await fetch(`${node.url}/system/async`)).json()) as { calls: unknown[] };
      assert.equal(after.calls.length, before.calls.length);
    });
  }

  it('should refuse a host that does not resolve', async () => {
    const res = await fetch(`${node.url}/async-function/echo`, {
      method: 'POST',
      body: 'x',
      headers: { 'x-callback-url': 'http://no-such-host.invalid/x' },
    });
    assert.equal(res.status, 400);
    assert.match((await errorOf(res)).message, /'no-such-host\.invalid' does not resolve/);
  });

  it('should accept what --callback-allow lists (an address, a CIDR, a host), and only that', async () => {
    for (const url of ['http://127.0.0.2:9/x', 'http://127.0.1.7:9/x', 'http://localhost:9/x']) {
      const res = await fetch(`${allowed.url}/async-function/echo`, { method: 'POST', body: 'x', headers: { 'x-callback-url': url } });
      assert.equal(res.status, 202, url);
    }
    for (const url of ['http://127.0.0.1:9/x', 'http://127.0.2.1:9/x']) {
      const outside = await fetch(`${allowed.url}/async-function/echo`, { method: 'POST', body: 'x', headers: { 'x-callback-url': url } });
      assert.equal(outside.status, 400, url);
    }
  });

  it('should stop `plume up` with one clear line for a malformed --callback-allow', async () => {
    const up = await runCli(['up', '--port', '0', '--workers', '1', '--callback-allow', '10.0.0.0/99']);
    assert.equal(up.status, 1);
    assert.match(up.stderr, /^plume: --callback-allow '10\.0\.0\.0\/99': the prefix length must be 0-32$/m);
  });

  it('should refuse a malformed --callback-allow entry', () => {
    assert.throws(() => new CallbackPolicy(['127.0.0.0/99']), /prefix length must be 0-32/);
    assert.throws(() => new CallbackPolicy(['::1/200']), /prefix length must be 0-128/);
    assert.throws(() => new CallbackPolicy(['not a host']), /expects a CIDR/);
    assert.throws(() => new CallbackPolicy(['example.com/8']), /expects a CIDR/);
  });
});

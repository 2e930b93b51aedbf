/**
 * Faults a node must survive, found by fault tests against `plume up` (issue 12): a Redis outage, a
 * malformed URL, an impossible memory limit, and a runaway guest beside well-behaved calls.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { benchGuest, example, guest } from '../helpers.ts';
import { startUp, type UpNode } from '../support/cli.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';
import { errorOf, rawRequest, startNode, type TestNode } from './support.ts';

describe('a node whose Redis goes away', () => {
  let redis: RedisServer;
  let node: UpNode;
  before(async () => {
    redis = await startRedis();
    node = await startUp(['--workers', '1', '--redis', redis.url]);
    const deployed = await fetch(`${node.url}/system/functions/state`, { method: 'POST', body: readFileSync(guest('state.wasm')) });
    assert.equal(deployed.status, 201, await deployed.text());
  });
  after(async () => {
    await node.stop();
    await redis.stop();
  });
  const set = (value: string): Promise<Response> => fetch(`${node.url}/function/state`, { method: 'POST', body: `set:k:${value}` });

  it('should answer 503 PLUME_ESTATE_UNAVAILABLE with Retry-After, log the outage once, and recover when Redis is back', async () => {
    const ok = await set('a');
    assert.equal(ok.status, 200, await ok.text());
    await redis.stop();
    for (let i = 0; i < 5; i++) {
      const res = await set(`b${i}`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      const error = await errorOf(res);
      assert.equal(error.code, 'PLUME_ESTATE_UNAVAILABLE');
      assert.match(error.message, /function 'state' failed: the Redis state backend at redis:\/\/127\.0\.0\.1:\d+ is unavailable/);
    }
    await redis.restart();
    const back = await eventually(async () => {
      const res = await set('c');
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return res.text();
    });
    assert.match(back, /^v=\d+$/);
    await eventually(async () => assert.match(node.stderr(), /the state tier at redis:\/\/127\.0\.0\.1:\d+ is back/));
    const outages = node.stderr().match(/is unavailable/g) ?? [];
    assert.equal(outages.length, 1, node.stderr());
  });
});

describe('bad requests a node refuses in its own error shape', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode();
    await node.plume.deploy('echo', example('c-echo/echo.wasm'));
  });
  after(() => node.close());

  it('should answer a URL the router cannot decode with 400 PLUME_EINPUT', async () => {
    for (const path of ['/function/%zz', '/function/a%', '/system/functions/%E0%A4%A']) {
      const raw = await rawRequest(node.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 400 /);
      const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'PLUME_EINPUT');
      assert.match(body.error.message, /not a valid url component/);
    }
  });

  it('should refuse a memory limit past 4 GiB with a 400 that names the limit, and deploy nothing', async () => {
    const res = await fetch(`${node.url}/system/functions/big?memory=1e9`, {
      method: 'POST',
      body: readFileSync(example('c-echo/echo.wasm')),
    });
    assert.equal(res.status, 400);
    const error = await errorOf(res);
    assert.equal(error.code, 'PLUME_EINPUT');
    assert.match(error.message, /limits\.memoryMb must be at most 4096 \(the 4 GiB a 32-bit module can address\), got 1000000000/);
    assert.equal((await fetch(`${node.url}/system/functions/big`)).status, 404);
  });
});

describe('a runaway guest beside well-behaved calls over HTTP', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode();
    await node.plume.deploy('hostile', benchGuest('hostile.wasm'), { limits: { timeoutMs: 400 } });
    await node.plume.deploy('echo', example('c-echo/echo.wasm'));
  });
  after(() => node.close());

  it('should fail only the looping call, while every echo call on the same single worker succeeds', async () => {
    // One worker: the echo calls queued behind the loop must run on a spare (or after the replacement), never fail.
    const loop = fetch(`${node.url}/function/hostile`, { method: 'POST', body: 'loop' });
    const echoes = Array.from({ length: 40 }, (_, i) =>
      fetch(`${node.url}/function/echo`, { method: 'POST', body: `e${i}` }).then(async (r) => [r.status, await r.text()] as const),
    );
    for (const [i, [status, body]] of (await Promise.all(echoes)).entries()) {
      assert.equal(status, 200, body);
      assert.equal(body, [...`e${i}`].reverse().join(''));
    }
    const looped = await loop;
    assert.equal(looped.status, 504);
    assert.equal((await errorOf(looped)).code, 'PLUME_ETIMEOUT');
  });
});

/**
 * Membership on Redis (docs/cluster.md): real `plume up` processes find each other through a real
 * redis-server with no --peer, call each other's functions, leave when killed and rejoin when restarted.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { example } from '../helpers.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { call, deploy, killAll, memberIds, peerIds, startNode, until, type ClusterNode } from './membership-support.ts';

describe('three nodes on one Redis, no --peer', () => {
  let redis: RedisServer;
  let client: Redis;
  const nodes: ClusterNode[] = [];
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startNode(redis.url, id)));
    nodes.push(a!, b!, c!);
  });
  after(async () => {
    await killAll(nodes);
    client?.disconnect();
    await redis?.stop();
  });

  it('should register every node in Redis and link each to the two others', async () => {
    assert.deepEqual(await memberIds(client), ['a', 'b', 'c']);
    await until('every node linked to the others', async () =>
      (await Promise.all(nodes.map(async (n) => (await peerIds(n.url)).join()))).every((p, i) => p === ['b,c', 'a,c', 'a,b'][i]),
    );
    const record = JSON.parse((await client.get('plume:cluster:node:a'))!) as Record<string, unknown>;
    assert.equal(record['node'], 'a');
    assert.equal(record['gateway'], a.url);
    assert.match(String(record['networked']), /^127\.0\.0\.1:\d+$/);
    assert.ok(Number(record['cores']) >= 1 && Number(record['freeMemoryBytes']) > 0, JSON.stringify(record));
    assert.ok(Number(await client.pttl('plume:cluster:node:a')) > 0, 'the key has a TTL');
  });

  it('should answer /healthz and /readyz 200 on a registered node', async () => {
    assert.equal((await fetch(`${a.url}/healthz`)).status, 200);
    const ready = await fetch(`${a.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true });
  });

  it("should run a function only A serves from C's gateway, through A over TCP", async () => {
    await deploy(a.url, 'echo', example('c-echo/echo.wasm'));
    assert.deepEqual(await call(c.url, 'echo', 'from C'), { status: 200, body: 'C morf' });
    const peers = (await (await fetch(`${c.url}/system/peers`)).json()) as { node: string; mode: string; functions: string[] }[];
    assert.deepEqual(
      peers.find((p) => p.node === 'a'),
      { url: a.url, node: 'a', mode: 'networked', functions: ['echo'], down: false },
    );
  });

  it('should drop a node killed with SIGKILL once its TTL ends, clean its socket and take it back when restarted', async () => {
    const socket = ((await (await fetch(`${b.url}/system/node`)).json()) as { local: string }).local;
    assert.ok(existsSync(socket));
    await b.kill();
    assert.ok(existsSync(socket), 'a killed node leaves its socket file');
    await until('b gone from Redis', async () => !(await memberIds(client)).includes('b'));
    await until('a and c unlinked from b', async () => (await peerIds(a.url)).join() === 'c' && (await peerIds(c.url)).join() === 'a');

    const again = await startNode(redis.url, 'b');
    nodes.push(again);
    assert.ok(!existsSync(socket), "the restarted node removed the dead node's socket file");
    await until('b back in Redis and linked', async () => (await memberIds(client)).includes('b') && (await peerIds(a.url)).includes('b'));
    assert.deepEqual(await call(again.url, 'echo', 'back'), { status: 200, body: 'kcab' });
  });

  it('should refuse to start a second node with the id of a live one, naming the id', async () => {
    const dup = await startNode(redis.url, 'a').catch((err: Error) => err);
    assert.ok(dup instanceof Error, 'the second node with id a must not start');
    assert.match(dup.message, /node id 'a' is in use by another live node/);
    assert.deepEqual(await memberIds(client), ['a', 'b', 'c']);
    assert.deepEqual(await call(a.url, 'echo', 'still a'), { status: 200, body: 'a llits' });
  });
});

describe('Redis that cannot be reached', () => {
  it('should refuse to start when Redis is unreachable, and start single-node with --redis-optional', async () => {
    const redis = await startRedis();
    await redis.stop(); // its port is now closed
    const refused = await startNode(redis.url, 'x').catch((err: Error) => err);
    assert.ok(refused instanceof Error, 'the node must not start');
    assert.match(refused.message, new RegExp(`cannot reach Redis at ${redis.url}.*--redis-optional`));

    const alone = await startNode(redis.url, 'y', '--redis-optional');
    try {
      assert.match(alone.stderr(), /single-node/);
      await deploy(alone.url, 'echo', example('c-echo/echo.wasm'));
      assert.deepEqual(await call(alone.url, 'echo', 'alone'), { status: 200, body: 'enola' });
      assert.equal((await fetch(`${alone.url}/readyz`)).status, 200);
      // Redis comes back: the deploy made without it is recorded in the registry, nothing lost.
      await redis.restart();
      const client = new Redis(redis.url);
      try {
        await until('echo recorded in the registry', async () => (await client.hexists('plume:cluster:functions', 'echo')) === 1, 15_000);
      } finally {
        client.disconnect();
      }
    } finally {
      await alone.kill();
      await redis.stop();
    }
  });

  it('should keep serving local functions while Redis is lost, and register again once it is back (logged once each)', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => 100 });
    client.on('error', () => {});
    const n = await startNode(redis.url, 'lonely');
    try {
      await deploy(n.url, 'echo', example('c-echo/echo.wasm'));
      await redis.stop();
      await until('the loss logged', async () => /membership: Redis .* is unreachable/.test(n.stderr()));
      await until('readyz 503 naming Redis', async () => {
        const res = await fetch(`${n.url}/readyz`);
        const body = (await res.json()) as { failing?: { name: string }[] };
        return res.status === 503 && body.failing!.some((f) => f.name === 'redis reachable');
      });
      assert.deepEqual(await call(n.url, 'echo', 'no redis'), { status: 200, body: 'sider on' });

      await redis.restart(); // empty: the node's key is gone
      await client.connect();
      await until('the key back in Redis', async () => (await memberIds(client)).includes('lonely'));
      await until('readyz 200', async () => (await fetch(`${n.url}/readyz`)).status === 200);
      assert.equal(n.stderr().match(/^plume: membership: Redis .* is unreachable/gm)?.length, 1, n.stderr());
      assert.equal(n.stderr().match(/registered again/g)?.length, 1, n.stderr());
    } finally {
      client.disconnect();
      await n.kill();
      await redis.stop();
    }
  });
});

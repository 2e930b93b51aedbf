/**
 * Many hosts on one machine (issue 11, part 6): three `plume up` processes, each in its own network
 * namespace joined by veths and a bridge, Redis in a fourth (bench/support/cluster.ts); and the same cases
 * on loopback, the fallback where namespaces cannot be made. The nodes find each other through Redis (no
 * `--peer`), prove the cluster's secret on every peer connection, and share one registry in Redis.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster, type ClusterMode, type ClusterNode } from '../../bench/support/cluster.ts';
import { netnsUnavailable } from '../../bench/support/netns.ts';
import { benchGuest, example } from '../helpers.ts';
import { eventually } from '../support/redis.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const netnsWhy = netnsUnavailable();

async function deploy(url: string, name: string, module: string, query = ''): Promise<void> {
  const res = await fetch(`${url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module) });
  assert.equal(res.status, 201, await res.text());
}

async function call(url: string, fn: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/function/${fn}`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, text: await res.text() };
}

/** The node ids a gateway links to (its view of the membership). */
async function peers(node: ClusterNode): Promise<string[]> {
  const res = await fetch(`${node.url}/system/peers`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { node: string }[]).map((p) => p.node).sort();
}

/** `call` until it answers 200, bounded: a deploy reaches the other nodes through the registry's notice. */
async function served(url: string, fn: string, body: string): Promise<{ status: number; text: string }> {
  return eventually(async () => {
    const r = await call(url, fn, body);
    if (r.status !== 200) throw new Error(`${url} answered ${r.status}: ${r.text}`);
    return r;
  }, 25_000);
}

/** The same cases in either mode: only where the nodes live differs. */
function threeNodes(mode: ClusterMode): void {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, mode });
  });
  after(async () => {
    await cluster?.close();
  });

  it(`should run the nodes as separate processes in ${mode} mode, linked through Redis with a secret`, async () => {
    assert.equal(cluster.mode, mode);
    assert.equal(cluster.discovery, 'redis');
    assert.match(cluster.secret, /^[0-9a-f]{64}$/);
    const pids = cluster.nodes.map((n) => n.pid);
    assert.equal(new Set(pids).size, 3);
    for (const n of cluster.nodes) {
      const res = await fetch(`${n.url}/readyz`);
      assert.equal(res.status, 200, `node ${n.name}: ${n.stderr()}`);
    }
    for (const n of cluster.nodes) {
      const others = cluster.nodes.filter((o) => o !== n).map((o) => o.id);
      await eventually(async () => assert.deepEqual(await peers(n), others.sort()), 10_000);
    }
    assert.ok(cluster.redis, 'Redis runs');
    if (mode === 'netns') {
      assert.deepEqual(
        cluster.nodes.map((n) => n.url.startsWith('http://10.213.')),
        [true, true, true],
      );
      assert.match(cluster.redis.url, /^redis:\/\/10\.213\.\d+\.4:6379$/);
    }
  });

  it('should run a function deployed on node a when it is invoked through node c', async () => {
    const [a, , c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await deploy(a.url, 'echo', example('c-echo/echo.wasm'));
    assert.deepEqual(await served(c.url, 'echo', 'hello'), { status: 200, text: 'olleh' });
  });

  it('should bring node b back after SIGKILL with every deployment, serving at once, and rejoin', async () => {
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await deploy(b.url, 'who', benchGuest('burn.wasm'), '?env=NODE=b');
    assert.deepEqual(await served(c.url, 'who', '10'), { status: 200, text: `b ${hash10}` });
    const before = b.pid;
    await b.kill('SIGKILL');
    assert.equal(b.running, false);
    // The registry holds who: the others serve it while b is down.
    assert.deepEqual(await call(c.url, 'who', '10'), { status: 200, text: `b ${hash10}` });
    await b.restart();
    assert.notEqual(b.pid, before);
    // No deploy after the restart: b loaded the registry before it printed its URL.
    assert.deepEqual(await call(b.url, 'who', '10'), { status: 200, text: `b ${hash10}` });
    assert.deepEqual(await call(b.url, 'echo', 'back'), { status: 200, text: 'kcab' });
    await eventually(async () => {
      assert.ok((await peers(a)).includes(b.id), 'a links to the restarted b');
      assert.ok((await peers(c)).includes(b.id), 'c links to the restarted b');
    }, 10_000);
  });

  it('should keep each node reachable only at its own address (no node answers on another node’s loopback)', async (t) => {
    if (mode !== 'netns') return t.skip('loopback mode: every node shares one loopback');
    const [a, , c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const port = new URL(c.url).port;
    // A process in a's namespace reaches c over the bridge, and finds nothing at c's port on its own loopback.
    const probe = `const r=async(u)=>{try{return (await fetch(u,{signal:AbortSignal.timeout(5000)})).status}catch(e){return e.cause?.code??e.message}};
      console.log(JSON.stringify([await r(${JSON.stringify(`${c.url}/healthz`)}), await r('http://127.0.0.1:${port}/healthz')]))`;
    const argv = [...cluster.launcher(0), process.execPath, '--input-type=module', '-e', probe];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await once(child, 'close');
    assert.deepEqual(JSON.parse(out), [200, 'ECONNREFUSED'], `from ${a.namespace}`);
  });
}

/** burn.wasm's hash after 10 rounds (the guest's output after the node's name). */
const hash10 = ((): string => {
  let x = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < 10; i++) {
    x ^= (x << 13n) & mask;
    x ^= x >> 7n;
    x ^= (x << 17n) & mask;
  }
  return x.toString(16).padStart(16, '0');
})();

describe(
  'three nodes in three network namespaces, Redis in a fourth',
  {
    skip: !hasRedis
      ? 'redis-server is not installed'
      : netnsWhy
        ? `network namespaces unavailable (${netnsWhy}); the loopback suite covers these cases`
        : false,
    timeout: 240_000,
  },
  () => threeNodes('netns'),
);

describe(
  'the same three nodes on loopback (the fallback, forced with mode loopback)',
  {
    skip: hasRedis ? false : 'redis-server is not installed',
    timeout: 240_000,
  },
  () => threeNodes('loopback'),
);

/**
 * Many hosts on one machine (issue 11, part 6): three `plume up` processes, each in its own network
 * namespace joined by veths and a bridge, Redis in a fourth (bench/support/cluster.ts); and the same cases
 * on loopback, the fallback where namespaces cannot be made. Nodes link today with `--peer` (node c to a
 * and b); once discovery through Redis is merged, `discovery: 'redis'` starts them with no `--peer`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster, type ClusterMode } from '../../bench/support/cluster.ts';
import { netnsUnavailable } from '../../bench/support/netns.ts';
import { benchGuest, example } from '../helpers.ts';
import { eventually } from '../support/redis.ts';

const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const netnsWhy = netnsUnavailable();

async function deploy(url: string, name: string, module: string, query = ''): Promise<void> {
  const res = await fetch(`${url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module) });
  assert.equal(res.status, 201, await res.text());
}

interface Through {
  readonly status: number;
  readonly text: string;
  /** The node id that ran the step (`<hostname>-<pid>`), when it ran. */
  readonly node?: string;
}

/**
 * Today `/function/:name` serves a node's own functions only (docs/dataplane.md, Linked nodes); a call
 * through node c to a peer's function is a one-step workflow on c, whose trace names the node that ran it.
 */
async function applyCall(url: string, fn: string): Promise<void> {
  const spec = { name: `call-${fn}`, steps: [{ id: 'call', function: fn }] };
  const res = await fetch(`${url}/system/workflows`, { method: 'POST', body: JSON.stringify(spec) });
  assert.equal(res.status, 201, await res.text());
}

async function through(url: string, fn: string, body: string): Promise<Through> {
  const res = await fetch(`${url}/workflow/call-${fn}?trace=1`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) });
  if (res.status !== 200) return { status: res.status, text: await res.text() };
  const { output, trace } = (await res.json()) as { output: string; trace: { steps: { node: string }[] } };
  return { status: 200, text: Buffer.from(output, 'base64').toString(), node: trace.steps[0]!.node };
}

/** `through` until it answers 200, bounded: a link reconnects a peer that came back when it next refreshes. */
async function served(url: string, fn: string, body: string): Promise<Through> {
  return eventually(async () => {
    const r = await through(url, fn, body);
    if (r.status !== 200) throw new Error(`${url} answered ${r.status}: ${r.text}`);
    return r;
  }, 25_000);
}

/** The same cases in either mode: only where the nodes live differs. */
function threeNodes(mode: ClusterMode): void {
  let cluster: Cluster;

  before(async () => {
    // c links to a and b (a and b start at once, then c): c serves nothing itself.
    cluster = await startCluster({ nodes: 3, mode, peers: (i) => (i === 2 ? [0, 1] : []) });
  });
  after(async () => {
    await cluster?.close();
  });

  it(`should run the nodes as separate processes in ${mode} mode`, async () => {
    assert.equal(cluster.mode, mode);
    const pids = cluster.nodes.map((n) => n.pid);
    assert.equal(new Set(pids).size, 3);
    for (const n of cluster.nodes) {
      const res = await fetch(`${n.url}/healthz`);
      assert.equal(res.status, 200, `node ${n.name}: ${n.stderr()}`);
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
    const [a, , c] = cluster.nodes as [Cluster['nodes'][0], Cluster['nodes'][0], Cluster['nodes'][0]];
    await deploy(a.url, 'echo', example('c-echo/echo.wasm'));
    const listed = (await (await fetch(`${c.url}/system/functions`)).json()) as { name: string }[];
    assert.ok(!listed.some((f) => f.name === 'echo'), 'c does not serve echo itself');
    await applyCall(c.url, 'echo');
    assert.deepEqual(await served(c.url, 'echo', 'hello'), { status: 200, text: 'olleh', node: nodeId(a) });
  });

  it('should bring node b back after SIGKILL: restarted on its address, it rejoins and c reaches it again', async () => {
    const [, b, c] = cluster.nodes as [Cluster['nodes'][0], Cluster['nodes'][0], Cluster['nodes'][0]];
    await deploy(b.url, 'who', benchGuest('burn.wasm'), '?env=NODE=b');
    await applyCall(c.url, 'who');
    assert.deepEqual(await served(c.url, 'who', '10'), { status: 200, text: `b ${hash10}`, node: nodeId(b) });
    const before = b.pid;
    await b.kill('SIGKILL');
    assert.equal(b.running, false);
    assert.notEqual((await through(c.url, 'who', '10')).status, 200, 'no node serves who while b is down');
    await b.restart();
    assert.notEqual(b.pid, before);
    // Today a restarted node starts empty and is deployed again; with the registry (issue 11, part 1) it
    // serves what it served before, and this deploy only makes a new version.
    await deploy(b.url, 'who', benchGuest('burn.wasm'), '?env=NODE=b');
    // c's link found b gone on the call above and reconnects to the same URL when it next refreshes.
    assert.deepEqual(await served(c.url, 'who', '10'), { status: 200, text: `b ${hash10}`, node: nodeId(b) });
  });

  it('should keep each node reachable only at its own address (no node answers on another node’s loopback)', async (t) => {
    if (mode !== 'netns') return t.skip('loopback mode: every node shares one loopback');
    const [a, , c] = cluster.nodes as [Cluster['nodes'][0], Cluster['nodes'][0], Cluster['nodes'][0]];
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

/** A node's id as its peers see it: `<hostname>-<pid>` (src/cluster/links.ts). */
const nodeId = (n: Cluster['nodes'][0]): string => `${hostname()}-${n.pid}`;

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

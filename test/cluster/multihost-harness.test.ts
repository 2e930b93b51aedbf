/**
 * The multi-host harness itself (bench/support/cluster.ts, netns.ts): its options are checked before
 * anything starts, and whatever way the process that made a cluster ends — `close()`, an exit without it,
 * SIGTERM — its nodes and Redis are gone by PID and its namespaces and bridge deleted.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { startCluster } from '../../bench/support/cluster.ts';
import { makeNamespaces, netnsUnavailable } from '../../bench/support/netns.ts';
import { root } from '../helpers.ts';
import { collect } from '../support/cli.ts';

const netnsWhy = netnsUnavailable();
const harness = pathToFileURL(`${root}bench/support/cluster.ts`).href;

/** Running, not a zombie: a killed node whose parent died is reaped by init whenever init gets to it. */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A SIGKILLed process leaves once the kernel has torn it down: wait for that, bounded. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  return !alive(pid);
}
const namespacesNow = (): string => (netnsWhy ? '' : execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }));
const bridgesNow = (): string => (netnsWhy ? '' : execFileSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }));

interface Made {
  readonly mode: string;
  readonly namespaces: string[];
  readonly bridge?: string;
  readonly pids: number[];
}

/** A child process that starts a one-node cluster with Redis, prints what it made, then ends as `how` says. */
async function madeBy(how: 'close' | 'exit' | 'sigterm' | 'throw'): Promise<{ made: Made; code: number | null; signal: string | null }> {
  const script = `
    import { startCluster } from ${JSON.stringify(harness)};
    const c = await startCluster({ nodes: 1 });
    const made = { mode: c.mode, namespaces: c.namespaces, bridge: c.bridge, pids: [c.nodes[0].pid, c.redis.pid] };
    console.log(JSON.stringify(made));
    if (${JSON.stringify(how)} === 'close') await c.close();
    else if (${JSON.stringify(how)} === 'exit') process.exit(3);
    else if (${JSON.stringify(how)} === 'throw') throw new Error('a failing test');
    else setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const closed = once(child, 'close');
  const made = await new Promise<Made>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve(JSON.parse(out) as Made);
    });
    void closed.then(() => reject(new Error(`the child exited before printing: ${err}`)));
  });
  if (how === 'sigterm') child.kill('SIGTERM');
  const [code, signal] = (await closed) as [number | null, string | null];
  return { made, code, signal };
}

describe('the multi-host harness', { timeout: 180_000 }, () => {
  it('should refuse bad options before starting anything', async () => {
    await assert.rejects(startCluster({ nodes: 0 }), { name: 'RangeError', message: /nodes must be 1 to 8, got 0/ });
    await assert.rejects(startCluster({ nodes: 9 }), RangeError);
    await assert.rejects(startCluster({ nodes: 1.5 }), RangeError);
    await assert.rejects(startCluster({ nodes: 2, peers: (i) => (i === 0 ? [1] : []) }), {
      name: 'RangeError',
      message: /peers\(0\) names node 1: a node links only to nodes started before it/,
    });
    const saved = process.env['PLUME_CLUSTER_MODE'];
    process.env['PLUME_CLUSTER_MODE'] = 'vm';
    try {
      await assert.rejects(startCluster({ nodes: 1 }), {
        name: 'TypeError',
        message: /PLUME_CLUSTER_MODE must be auto, netns or loopback, got 'vm'/,
      });
    } finally {
      if (saved === undefined) delete process.env['PLUME_CLUSTER_MODE'];
      else process.env['PLUME_CLUSTER_MODE'] = saved;
    }
    const savedDiscovery = process.env['PLUME_CLUSTER_DISCOVERY'];
    process.env['PLUME_CLUSTER_DISCOVERY'] = 'dns';
    try {
      await assert.rejects(startCluster({ nodes: 1 }), {
        name: 'TypeError',
        message: /PLUME_CLUSTER_DISCOVERY must be peer or redis, got 'dns'/,
      });
    } finally {
      if (savedDiscovery === undefined) delete process.env['PLUME_CLUSTER_DISCOVERY'];
      else process.env['PLUME_CLUSTER_DISCOVERY'] = savedDiscovery;
    }
    await assert.rejects(startCluster({ nodes: 1, redis: false, discovery: 'redis' }), { name: 'TypeError', message: /needs redis/ });
    assert.throws(() => makeNamespaces([]), RangeError);
    assert.throws(() => makeNamespaces(['A']), { name: 'TypeError', message: /one letter or digit, got 'A'/ });
  });

  it('should run on loopback when asked, and say so in mode and reason', async () => {
    const c = await startCluster({ nodes: 1, redis: false, mode: 'loopback' });
    try {
      assert.equal(c.mode, 'loopback');
      assert.equal(c.discovery, 'peer', 'without Redis the nodes can only link by --peer');
      assert.match(c.secret, /^[0-9a-f]{64}$/);
      assert.match(c.reason, /^loopback/);
      assert.deepEqual(c.namespaces, []);
      assert.match(c.nodes[0]!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${c.nodes[0]!.url}/healthz`)).status, 200);
    } finally {
      await c.close();
    }
  });

  it(
    'should fall back to loopback by itself where namespaces cannot be made, saying why (a process that is not root)',
    {
      skip:
        process.getuid?.() === 0
          ? false
          : 'needs root to start a process as another user (this one is not root: the suites here already run the fallback)',
    },
    async () => {
      const script = `
        const { startCluster } = await import(${JSON.stringify(harness)});
        const c = await startCluster({ nodes: 1, redis: false });
        console.log(JSON.stringify({ mode: c.mode, reason: c.reason, status: (await fetch(c.nodes[0].url + '/healthz')).status }));
        await c.close();`;
      // uid/gid 65534 (nobody): `ip netns add` needs CAP_SYS_ADMIN, which it lacks.
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
        cwd: '/tmp',
        uid: 65534,
        gid: 65534,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const { status, stdout, stderr } = await collect(child);
      assert.equal(status, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), {
        mode: 'loopback',
        reason: 'loopback: network namespaces need root (ip netns add): this process is not root',
        status: 200,
      });
    },
  );

  for (const how of ['close', 'exit', 'throw', 'sigterm'] as const) {
    it(`should leave no process, namespace or bridge behind when its process ends by ${how}`, async () => {
      const { made, code, signal } = await madeBy(how);
      assert.equal(made.mode, netnsWhy ? 'loopback' : 'netns');
      assert.equal(made.pids.length, 2);
      if (how === 'exit') assert.equal(code, 3);
      if (how === 'sigterm') assert.equal(signal, 'SIGTERM');
      if (how === 'throw') assert.equal(code, 1);
      for (const pid of made.pids) assert.ok(await gone(pid), `process ${pid} is gone`);
      if (!netnsWhy) {
        assert.equal(made.namespaces.length, 2);
        const list = namespacesNow();
        for (const ns of made.namespaces) assert.ok(!list.includes(ns), `namespace ${ns} deleted`);
        assert.ok(!bridgesNow().includes(`${made.bridge}:`), `bridge ${made.bridge} deleted`);
      }
    });
  }
});

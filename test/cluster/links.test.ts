/**
 * Nodes linked as peers (`plume up --peer URL`): a function this node lacks runs on the peer that serves
 * it, over a Unix socket on the same host and TCP otherwise, from a client, a workflow step or a guest's
 * chained call; traces say which mode each hop took. Peers are real `plume up` processes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeerLinks, servePeers, type PeerService } from '../../src/cluster/links.ts';
import { Plume } from '../../src/runtime.ts';
import { example, guest, rejection, root, text } from '../helpers.ts';

const CLI = ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts')];

interface UpNode {
  readonly url: string;
  readonly child: ChildProcess;
  stderr: string;
  stop(): Promise<void>;
}

/** `plume up` in a child process on a free port; resolves with its URL once it prints it. */
async function up(...args: string[]): Promise<UpNode> {
  const child = spawn(process.execPath, [...CLI, 'up', '--port', '0', '--workers', '1', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node = {
    child,
    stderr: '',
    url: '',
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      await closed;
    },
  };
  child.stderr.setEncoding('utf8').on('data', (c: string) => (node.stderr += c));
  const first = await Promise.race([
    once(child.stdout.setEncoding('utf8'), 'data').then(([line]) => String(line).trim()),
    once(child, 'close').then(() => {
      throw new Error(`plume up exited: ${node.stderr}`);
    }),
  ]);
  node.url = first;
  return node;
}

async function deployOver(url: string, name: string, module: string, query = ''): Promise<void> {
  const res = await fetch(`${url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module) });
  assert.equal(res.status, 201, await res.text());
}

/** An in-process node linked to the given peers, as `plume up --peer` makes one. */
async function linkedNode(
  peers: string[],
  hostId?: string,
  refreshMs = 50,
  workerMemoryMb?: number,
): Promise<{ plume: Plume; links: PeerLinks; service: PeerService; close(): Promise<void> }> {
  const plume = await Plume.start({ workers: 1, ...(workerMemoryMb ? { workerMemoryMb } : {}) });
  const service = await servePeers(plume, hostId ? { hostId } : {});
  const links = new PeerLinks({ self: service.info, onChange: () => plume.remoteChanged(), refreshMs });
  for (const url of peers) await links.link(url);
  plume.link(links);
  return {
    plume,
    links,
    service,
    close: async () => {
      await links.close();
      await service.close();
      await plume.close();
    },
  };
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('linked nodes on one host (local mode)', () => {
  let a: UpNode;
  let b: Awaited<ReturnType<typeof linkedNode>>;

  before(async () => {
    a = await up();
    await deployOver(a.url, 'echo', example('c-echo/echo.wasm'));
    b = await linkedNode([a.url]);
  });
  after(async () => {
    await b?.close();
    await a?.stop();
  });

  it('should run a function only the peer serves, over its Unix socket, and say so', async () => {
    const r = await b.plume.invokeDetailed('echo', 'hello');
    assert.equal(text(r.output), 'olleh');
    assert.equal(r.placement, 'remote');
    assert.equal(r.remote?.mode, 'local');
    assert.match(r.remote!.node, /-\d+$/);
    assert.ok(r.remote!.bytesMoved > 10, `moved ${r.remote!.bytesMoved}`);
    assert.deepEqual(
      b.links.peers.map((p) => [p.url, p.mode, p.functions]),
      [[a.url, 'local', ['echo']]],
    );
  });

  it("should reach the peer's function from a guest's chained call, with the hop's mode in the trace", async () => {
    await b.plume.deploy('chain', guest('chain.wasm'));
    const r = await b.plume.invokeDetailed('chain', 'named:echo:peer');
    assert.equal(text(r.output), 'reep');
    const hop = r.trace?.find((h) => h.to === 'echo');
    assert.equal(hop?.mode, 'local');
    assert.equal(hop?.from, 'chain');
    assert.ok(hop!.bytesMoved > 4);
  });

  it('should run a workflow step on the peer: the step names the peer node, its edges the local mode', async () => {
    await b.plume.applyWorkflow(
      {
        name: 'shout-remote',
        functions: { upper: { module: 'text.wasm', entry: 'upper' } },
        steps: [
          { id: 'loud', function: 'upper' },
          { id: 'back', function: 'echo', input: 'loud' },
        ],
      },
      { baseDir: example('workflows') },
    );
    const { output, trace } = await b.plume.runWorkflow('shout-remote', 'abc', { trace: true });
    assert.equal(text(output), 'CBA');
    const back = trace!.steps.find((s) => s.id === 'back')!;
    assert.notEqual(back.node, 'local');
    assert.deepEqual(back.workers, []);
    assert.equal(trace!.steps.find((s) => s.id === 'loud')!.node, 'local');
    const edge = trace!.edges.find((e) => e.from === 'loud' && e.to === 'back');
    assert.equal(edge?.mode, 'local');
    assert.equal(edge?.bytesMoved, 3);
    assert.equal(trace!.edges.find((e) => e.from === '$input')?.mode, 'embedded');
  });

  it('should find a function deployed on the peer after linking, and refuse one nobody serves', async () => {
    await deployOver(a.url, 'hello', example('hello/hello.wasm'));
    assert.equal(text(await b.plume.invoke('hello', 'late')), 'Hello, late!');
    const err = await rejection(b.plume.invoke('nobody-serves-this', 'x'));
    assert.equal(err.code, 'PLUME_ENOFUNC');
    assert.match(err.message, /no function named 'nobody-serves-this' is deployed here or on a peer/);
  });

  it("should prefer this node's own function of the same name", async () => {
    await b.plume.deploy('echo', example('hello/hello.wasm'));
    try {
      const r = await b.plume.invokeDetailed('echo', 'me');
      assert.equal(text(r.output), 'Hello, me!');
      assert.notEqual(r.placement, 'remote');
    } finally {
      b.plume.remove('echo');
    }
    assert.equal(text(await b.plume.invoke('echo', 'ab')), 'ba');
  });

  it('should keep calls of a function both nodes serve here under light load, and spread some to the peer under heavy load', async () => {
    // `nap` sleeps suspended: calls pile up in flight without using a core, so the load is exact.
    await deployOver(a.url, 'nap', guest('workflow.wasm'), '?entry=sleep');
    await b.plume.deploy('nap', guest('workflow.wasm'), { entry: 'sleep' });
    // The links ask the peer what it serves every refreshMs (50 ms here): wait until they know.
    for (let waited = 0; !b.links.catalog.has('nap') && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    assert.ok(b.links.catalog.has('nap'), 'the periodic refresh found the function deployed on the peer');
    try {
      for (let i = 0; i < 3; i++) {
        const r = await b.plume.invokeDetailed('nap', '5:light');
        assert.equal(text(r.output), 'light');
        assert.notEqual(r.placement, 'remote', 'one call at a time stays on this node');
      }
      // b has one worker: past SPREAD_TO_PEERS_AT (2) calls in flight, calls go to the less loaded peer.
      const heavy = await Promise.all(Array.from({ length: 12 }, (_, i) => b.plume.invokeDetailed('nap', `150:${i}`)));
      assert.deepEqual(
        heavy.map((r) => text(r.output)),
        heavy.map((_, i) => String(i)),
      );
      const remote = heavy.filter((r) => r.placement === 'remote');
      assert.ok(remote.length > 0 && remote.length < heavy.length, `${remote.length} of ${heavy.length} ran on the peer`);
      assert.ok(
        remote.every((r) => r.remote?.mode === 'local' && r.worker === -1),
        'a spread call says where it ran',
      );
      // The first calls found the node idle and stayed.
      assert.ok(
        heavy.slice(0, 2).every((r) => r.placement !== 'remote'),
        heavy.map((r) => r.placement).join(),
      );
    } finally {
      b.plume.remove('nap');
    }
  });
});

describe('spreading to a peer for memory', () => {
  it('should send calls to a peer that serves the function too once every worker here is over its memory limit', async () => {
    const a = await up();
    const c = await linkedNode([], undefined, 50, 40);
    try {
      await deployOver(a.url, 'echo', example('c-echo/echo.wasm'));
      await c.links.link(a.url);
      await c.plume.deploy('echo', example('c-echo/echo.wasm'));
      const limits = { maxOutputBytes: 64 * 1024 * 1024, memoryMb: 64 };
      await c.plume.deploy('produce', join(root, 'bench/guests/transfer.wasm'), { entry: 'produce', limits });
      assert.notEqual((await c.plume.invokeDetailed('echo', 'ab')).placement, 'remote', 'with room it runs here');
      await c.plume.invoke('produce', String(48 * 1024 * 1024)); // its only worker now holds ~60 MiB
      await new Promise((resolve) => setTimeout(resolve, 100)); // published once the call is done
      const r = await c.plume.invokeDetailed('echo', 'ab');
      assert.equal(text(r.output), 'ba');
      assert.equal(r.placement, 'remote');
      assert.equal(r.remote?.mode, 'local');
    } finally {
      await c.close();
      await a.stop();
    }
  });
});

describe('linked nodes on different hosts (networked mode)', () => {
  it('should link over TCP when the host ids differ, and fail calls fast once the peer dies', async () => {
    const a = await up('--host-id', 'another-host');
    // No periodic refresh: the link itself must find the peer gone (a refresh would find it first).
    const b = await linkedNode([a.url], undefined, 0);
    try {
      await deployOver(a.url, 'echo', example('c-echo/echo.wasm'));
      await deployOver(a.url, 'slow', guest('conformance-c.wasm'));
      const r = await b.plume.invokeDetailed('echo', 'tcp');
      assert.equal(text(r.output), 'pct');
      assert.equal(r.remote?.mode, 'networked');

      const inFlight = rejection(b.plume.invoke('slow', 'sleep:10000'));
      await new Promise((resolve) => setTimeout(resolve, 200)); // on its way to a, or running there
      a.child.kill('SIGKILL');
      await once(a.child, 'close');
      assert.equal((await inFlight).code, 'PLUME_EPEER');
      // The dead peer's functions leave the catalog (the link saw its connection close): a call is refused
      // as unknown, not hung.
      assert.equal(b.links.peers[0]?.down, true);
      assert.equal((await rejection(b.plume.invoke('echo', 'gone'))).code, 'PLUME_ENOFUNC');
    } finally {
      await b.close();
      await a.stop();
    }
  });
});

describe('linking: bad peers', () => {
  let b: Awaited<ReturnType<typeof linkedNode>>;
  before(async () => (b = await linkedNode([])));
  after(async () => b?.close());

  it('should refuse a URL where nothing listens, naming it', async () => {
    const port = await closedPort();
    const err = await rejection(b.links.link(`http://127.0.0.1:${port}`));
    assert.equal(err.code, 'PLUME_EPEER');
    assert.equal(err.message, `cannot reach peer http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('should refuse something that is not a URL, and an HTTP server that is not a Plume node', async () => {
    assert.equal(
      (await rejection(b.links.link('localhost-8080'))).message,
      "peer 'localhost-8080' is not a URL (expected http://host:port)",
    );
    const server = createServer((_req, res) => res.end('{"hello":"world"}'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const err = await rejection(b.links.link(url));
      assert.equal(err.message, `peer ${url} is not a Plume node (GET /system/node gave no node info)`);
    } finally {
      server.close();
    }
  });

  it('should refuse a refresh period that is not a number of ms ≥ 0', () => {
    for (const refreshMs of [-1, Number.NaN, Infinity]) {
      assert.throws(() => new PeerLinks({ self: b.service.info, refreshMs }), {
        name: 'RangeError',
        message: /refreshMs must be a number of ms ≥ 0/,
      });
    }
  });

  it('should refuse a peer whose admin token it lacks, and say how to give one', async () => {
    const a = await up('--admin-token', 'secret');
    try {
      const err = await rejection(b.links.link(a.url));
      assert.equal(err.message, `peer ${a.url} answered 401 to GET /system/node (give its admin token with --peer-token)`);
      const withToken = new PeerLinks({ self: b.service.info, token: 'secret' });
      try {
        assert.equal((await withToken.link(a.url)).mode, 'local');
      } finally {
        await withToken.close();
      }
    } finally {
      await a.stop();
    }
  });
});

describe('plume up --peer', () => {
  it('should link at start, serve workflows whose steps run on the peer, and stop cleanly', async () => {
    const a = await up();
    await deployOver(a.url, 'echo', example('c-echo/echo.wasm'));
    const b = await up('--peer', a.url);
    try {
      while (!b.stderr.includes('linked to peer')) await once(b.child.stderr!, 'data');
      assert.match(b.stderr, new RegExp(`linked to peer \\S+ at ${a.url.replace(/[.]/g, '\\.')} over local \\(1 functions\\)`));
      const spec = { name: 'remote-echo', steps: [{ id: 'back', function: 'echo' }] };
      const applied = await fetch(`${b.url}/system/workflows`, { method: 'POST', body: JSON.stringify(spec) });
      assert.equal(applied.status, 201, await applied.text());
      const res = await fetch(`${b.url}/workflow/remote-echo?trace=1`, { method: 'POST', body: 'over http' });
      assert.equal(res.status, 200);
      const { output, trace } = (await res.json()) as { output: string; trace: { edges: { from: string; mode: string }[] } };
      assert.equal(Buffer.from(output, 'base64').toString(), 'ptth revo');
      assert.equal(trace.edges.find((e) => e.from === '$input')?.mode, 'local');
      const peers = (await (await fetch(`${b.url}/system/peers`)).json()) as { mode: string }[];
      assert.deepEqual(
        peers.map((p) => p.mode),
        ['local'],
      );
    } finally {
      await b.stop();
      await a.stop();
    }
    assert.equal(b.child.exitCode, 0, b.stderr);
  });

  it('should refuse to start when a peer cannot be reached, in one line', async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, [...CLI, 'up', '--port', '0', '--workers', '1', '--peer', `http://127.0.0.1:${port}`], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const [code] = (await once(child, 'close')) as [number];
    assert.notEqual(code, 0);
    assert.equal(stderr, `plume: cannot reach peer http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });
});

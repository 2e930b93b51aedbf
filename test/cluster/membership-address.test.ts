/**
 * Where a node is reached (docs/cluster.md, Membership): the advertised address is never a wildcard, the
 * peer port can be fixed (and a taken one is refused clearly), and sockets of dead nodes are swept.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { advertisedHost, removeStaleSockets } from '../../src/cluster/membership-sockets.ts';
import { runCli, startUp } from '../support/cli.ts';

describe('the advertised address', () => {
  it('should advertise the listening host, or --advertise, and never a wildcard', () => {
    assert.equal(advertisedHost('127.0.0.1'), '127.0.0.1');
    assert.equal(advertisedHost('0.0.0.0', '10.1.2.3'), '10.1.2.3');
    assert.throws(() => advertisedHost('127.0.0.1', '0.0.0.0'), {
      name: 'RangeError',
      message: /--advertise must be an address peers can reach/,
    });
    // On a wildcard: this host's external address, or a refusal that names --advertise (a host with none).
    try {
      const chosen = advertisedHost('0.0.0.0');
      assert.notEqual(chosen, '0.0.0.0');
      assert.match(chosen, /^\d+\.\d+\.\d+\.\d+$/);
    } catch (err) {
      assert.match((err as Error).message, /give the one peers reach with --advertise/);
    }
  });

  it('should serve peers on the --peer-port given, at the --advertise address', async () => {
    const port = await freePort();
    const node = await startUp(['--workers', '1', '--peer-port', String(port), '--advertise', '127.0.0.2']);
    try {
      const info = (await (await fetch(`${node.url}/system/node`)).json()) as { networked: string };
      assert.equal(info.networked, `127.0.0.2:${port}`);
    } finally {
      await node.stop();
    }
  });

  it('should refuse a --peer-port that is taken, naming it', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    try {
      const run = await runCli(['up', '--port', '0', '--workers', '1', '--peer-port', String(port)]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, new RegExp(`peer port ${port} on 127.0.0.1 is in use: pick another with --peer-port`));
    } finally {
      taken.close();
    }
  });
});

describe('stale peer sockets', () => {
  it("should delete the socket files of processes that no longer run, and keep live ones' and other files", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plume-sweep-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // it has exited
      const stale = join(dir, `plume-${dead}-0123456789ab.sock`);
      const live = join(dir, `plume-${process.ppid}-0123456789ab.sock`);
      const other = join(dir, `plume-${dead}-notasocket.txt`);
      for (const path of [stale, live, other]) await writeFile(path, '');
      assert.deepEqual(await removeStaleSockets(dir), [stale]);
      assert.deepEqual([stale, live, other].map(existsSync), [false, true, true]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

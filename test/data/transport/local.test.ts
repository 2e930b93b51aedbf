/** The transport contract over a Unix domain socket, plus what is particular to `local`. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLocalClient, createLocalServer } from '../../../src/data/transport/local.ts';
import { spawnPeer } from './child-peer.ts';
import { transportContract } from './contract.ts';

transportContract({
  mode: 'local',
  createServer: createLocalServer,
  createClient: createLocalClient,
  unusedAddress: async () => join(tmpdir(), `plume-nobody-${process.pid}.sock`),
  startDoomedPeer: () => spawnPeer('local'),
  rawConnect: (path) => net.connect({ path }),
});

describe('local transport addresses', () => {
  it('should listen on a fresh socket in the temp dir and remove it on close', async () => {
    const server = createLocalServer(async (r) => r.body);
    const path = await server.listen();
    assert.ok(path.startsWith(tmpdir()), path);
    assert.ok(existsSync(path));
    await server.close();
    assert.ok(!existsSync(path));
  });
});

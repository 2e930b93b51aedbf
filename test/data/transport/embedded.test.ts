/** The transport contract in process, plus what is particular to `embedded`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEmbeddedClient, createEmbeddedServer } from '../../../src/data/transport/embedded.ts';
import { transportContract } from './contract.ts';

let unused = 0;

transportContract({
  mode: 'embedded',
  createServer: createEmbeddedServer,
  createClient: createEmbeddedClient,
  unusedAddress: async () => `nobody-${++unused}`,
  startDoomedPeer: async () => {
    const { promise: responding, resolve } = Promise.withResolvers<void>();
    const server = createEmbeddedServer(({ method }) => {
      if (method === 'big') resolve();
      return new Promise<Uint8Array>(() => {});
    });
    const address = await server.listen();
    // In one process the only way for the peer to vanish is for its server to close.
    return { address, responding, kill: () => void server.close(), cleanup: () => server.close() };
  },
});

describe('embedded transport names', () => {
  it('should refuse a name another server holds, and free it on close', async () => {
    const first = createEmbeddedServer(async (r) => r.body);
    await first.listen('taken');
    await assert.rejects(createEmbeddedServer(async (r) => r.body).listen('taken'), /already listens/);
    await first.close();
    const second = createEmbeddedServer(async (r) => r.body);
    assert.equal(await second.listen('taken'), 'taken');
    await second.close();
  });
});

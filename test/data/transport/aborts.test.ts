/**
 * Bad input on `networked`: a peer that disconnects in the middle of a body frees what was set aside for
 * it, and the server still answers afterwards. A large body is pulled: 100 pulls cut short leave the
 * server's RSS within 10 MB of where it started (the pooled buffer is reused once its connection has
 * closed). 100 inline request frames cut short leave no buffer behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { PayloadStore } from '../../../src/data/store.ts';
import { FrameFlag, FrameType, HEADER_BYTES, decodeHeader, encodeHeader, encodePullRef } from '../../../src/data/transport/frame.ts';
import { createNetworkedClient, createNetworkedServer, parseHostPort } from '../../../src/data/transport/networked.ts';
import type { TransportServer } from '../../../src/data/transport/transport.ts';

const MB = 1024 * 1024;
/** Each aborted body claims this much and sends half: 100 leaked halves would be 400 MB of RSS. */
const CLAIMED = 8 * MB;
const ABORTS = 100;
const SLACK = 10 * MB;
const HALF = new Uint8Array(CLAIMED / 2).fill(0x5a);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Memory once the collector has run and freed memory has had a moment to go back to the OS. */
async function settled(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage();
}

function grew(what: 'rss' | 'arrayBuffers', before: NodeJS.MemoryUsage, after: NodeJS.MemoryUsage): void {
  const mb = (after[what] - before[what]) / MB;
  assert.ok(mb < SLACK / MB, `${what} grew by ${mb.toFixed(1)} MB after ${ABORTS} aborts`);
}

/** A request frame's header and method; the body (and for a pull, its reference) follows. */
function requestHead(method: string, length: number, flags = 0): Buffer {
  const name = Buffer.from(method);
  return Buffer.concat([encodeHeader({ type: FrameType.Request, flags, aux: name.length, id: 1, length: name.length + length }), name]);
}

/** Connects, writes `parts`, waits until the kernel took them, and destroys the socket. */
async function sendAndVanish(address: string, parts: Uint8Array[], until?: Promise<unknown>): Promise<void> {
  const socket = net.connect(parseHostPort(address));
  socket.on('error', () => {});
  await once(socket, 'connect');
  await new Promise<void>((resolve) => {
    parts.forEach((part, i) => socket.write(part, i === parts.length - 1 ? () => resolve() : undefined));
  });
  await until;
  socket.destroy();
}

/**
 * A pull server that answers every pull with the header of a CLAIMED-byte body, half of it, and then
 * hangs up; `next()` resolves once the next such half was handed to the kernel.
 */
async function truncatingPullServer(): Promise<{ address: string; next: () => Promise<void>; close: () => Promise<void> }> {
  let wake: (() => void) | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < HEADER_BYTES) return;
      const { id } = decodeHeader(head);
      socket.write(encodeHeader({ type: FrameType.Response, aux: 0, id, length: CLAIMED }));
      socket.write(HALF, () => {
        socket.destroy();
        wake?.();
      });
      head = Buffer.alloc(0);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    next: () => new Promise<void>((resolve) => (wake = resolve)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('networked: peers that disconnect mid-body', () => {
  async function withServer(run: (server: TransportServer, address: string, store: PayloadStore) => Promise<void>): Promise<void> {
    const store = new PayloadStore();
    const server = createNetworkedServer(async ({ body }) => body.slice(0, 4), { store, logger: () => {} });
    const address = await server.listen();
    try {
      await run(server, address, store);
      // Still serving: a complete request gets its answer.
      const client = createNetworkedClient();
      await client.connect(address);
      assert.deepEqual([...(await client.request('after', new Uint8Array(2 * MB).fill(7)))], [7, 7, 7, 7]);
      await client.close();
    } finally {
      await server.close();
    }
  }

  // An inline frame's payload is a fresh buffer of its own (a receiver may transfer it), so this checks that
  // every one is freed; the process's RSS may still keep some of the freed memory (docs/dataplane.md).
  it(`should free a request frame cut short, ${ABORTS} times over: its buffers back within ${SLACK / MB} MB`, async () => {
    await withServer(async (_server, address) => {
      const abort = () => sendAndVanish(address, [requestHead('big', CLAIMED), HALF]);
      for (let i = 0; i < 5; i++) await abort(); // warm-up: the allocator's first mappings
      const before = await settled();
      for (let i = 0; i < ABORTS; i++) await abort();
      grew('arrayBuffers', before, await settled());
    });
  });

  it(`should free a pulled body cut short, ${ABORTS} times over: RSS back within ${SLACK / MB} MB`, async () => {
    const puller = await truncatingPullServer();
    try {
      await withServer(async (_server, address, store) => {
        const ref = encodePullRef({ length: CLAIMED, token: new Uint8Array(16), address: puller.address });
        const abort = async (): Promise<void> => {
          const served = puller.next();
          await sendAndVanish(address, [requestHead('big', ref.length, FrameFlag.Pull), ref], served);
          // The server's lease for the body ends once it sees the pull fail.
          for (let waited = 0; store.stats.inUseBytes > 0 && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
          assert.equal(store.stats.inUseBytes, 0, 'the lease of a body cut short ended');
        };
        for (let i = 0; i < 5; i++) await abort();
        const before = await settled();
        for (let i = 0; i < ABORTS; i++) await abort();
        const after = await settled();
        grew('rss', before, after);
        grew('arrayBuffers', before, after);
      });
    } finally {
      await puller.close();
    }
  });
});

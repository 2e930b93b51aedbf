/**
 * Large bodies (socket modes): a large request body is fetched by the server into a pooled buffer of its
 * PayloadStore, pulled over `networked`, read from a shared-memory file over `local` (shared.test.ts has
 * what is particular to that); the store bounds what is in flight and makes fetches wait when full.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PayloadStore } from '../../../src/data/store.ts';
import { createLocalClient, createLocalServer } from '../../../src/data/transport/local.ts';
import { createNetworkedClient, createNetworkedServer } from '../../../src/data/transport/networked.ts';
import type { ClientOptions, RequestHandler, ServerOptions, Transfer, TransportRequest } from '../../../src/data/transport/transport.ts';
import { rejection } from '../../helpers.ts';

const MB = 1024 * 1024;
const CHILD = fileURLToPath(new URL('./pull-client.ts', import.meta.url));
const modes = {
  local: { server: createLocalServer, client: createLocalClient },
  networked: { server: createNetworkedServer, client: createNetworkedClient },
} as const;

for (const mode of ['local', 'networked'] as const) {
  describe(`large bodies over ${mode} (${mode === 'local' ? 'shared memory' : 'pulled'})`, () => {
    async function pair(handler: RequestHandler, serverOptions: ServerOptions = {}, clientOptions: ClientOptions = {}) {
      const server = modes[mode].server(handler, serverOptions);
      const address = await server.listen();
      const client = modes[mode].client(clientOptions);
      await client.connect(address);
      return {
        client,
        address,
        close: async () => {
          await client.close();
          await server.close();
        },
      };
    }

    it('should pull a large body into a pooled shared buffer and reuse it for the next one', async () => {
      const store = new PayloadStore();
      const seen: TransportRequest[] = [];
      const server: Transfer[] = [];
      const client: Transfer[] = [];
      const pair_ = await pair(
        async (request) => {
          seen.push(request);
          return Buffer.from(`${request.body.length}:${request.body[0]}:${request.body.at(-1)}`);
        },
        { store, onTransfer: (t) => server.push(t) },
        { onTransfer: (t) => client.push(t) },
      );
      try {
        const answer = await pair_.client.request('sum', new Uint8Array(3 * MB).fill(7));
        assert.equal(Buffer.from(answer).toString(), `${3 * MB}:7:7`);
        assert.ok(seen[0]!.body.buffer instanceof SharedArrayBuffer, 'the body lies in the store');
        assert.deepEqual(store.stats, { heldBytes: 4 * MB, inUseBytes: 0, spareBytes: 4 * MB, waiting: 0 });
        await pair_.client.request('sum', new Uint8Array(2 * MB + 1).fill(8));
        assert.equal(seen[1]!.body.buffer, seen[0]!.body.buffer, 'the same buffer served the next body');
        // Both ends report the request hop: the same bytes moved; the sender copied nothing (`local` writes
        // the body into its shared file straight from the body, `networked` serves the pull from it), the
        // receiver at most what arrived with the first read.
        const request = (list: Transfer[]) => list.find((t) => t.direction === 'request')!;
        assert.equal(request(client).bytesMoved, request(server).bytesMoved);
        assert.ok(request(client).bytesMoved > 3 * MB);
        assert.equal(request(client).bytesCopied, 0);
        assert.ok(request(server).bytesCopied <= 64 * 1024, `the server copied ${request(server).bytesCopied} bytes`);
      } finally {
        await pair_.close();
      }
    });

    it('should not reuse a body the handler kept', async () => {
      const store = new PayloadStore();
      const bodies: Uint8Array[] = [];
      const { client, close } = await pair(
        async ({ body, keep }) => {
          keep();
          bodies.push(body);
          return new Uint8Array(0);
        },
        { store },
      );
      try {
        await client.request('keep', new Uint8Array(2 * MB).fill(1));
        await client.request('keep', new Uint8Array(2 * MB).fill(2));
        assert.notEqual(bodies[0]!.buffer, bodies[1]!.buffer);
        assert.equal(bodies[0]![0], 1, 'the kept body is intact');
        assert.deepEqual(store.stats, { heldBytes: 0, inUseBytes: 0, spareBytes: 0, waiting: 0 });
      } finally {
        await close();
      }
    });

    it('should make a pull wait while the store is full, and go on once a body is released', async () => {
      const store = new PayloadStore({ maxBytes: 4 * MB });
      const events: string[] = [];
      const { promise: firstIn, resolve: firstArrived } = Promise.withResolvers<void>();
      const { promise: gate, resolve: open } = Promise.withResolvers<void>();
      const { client, close } = await pair(
        async ({ method }) => {
          events.push(`${method} in`);
          if (method === 'first') {
            firstArrived();
            await gate;
          }
          events.push(`${method} out`);
          return new Uint8Array(0);
        },
        { store },
      );
      try {
        const first = client.request('first', new Uint8Array(3 * MB));
        await firstIn;
        const second = client.request('second', new Uint8Array(3 * MB));
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(store.stats.waiting, 1, 'the second pull waits for room');
        open();
        await Promise.all([first, second]);
        assert.deepEqual(events, ['first in', 'first out', 'second in', 'second out']);
      } finally {
        await close();
      }
    });

    it('should refuse a body larger than the store can ever hold, and keep the connection', async () => {
      const { client, close } = await pair(async ({ body }) => body.slice(0, 2), { store: new PayloadStore({ maxBytes: 2 * MB }) });
      try {
        const error = await rejection(client.request('huge', new Uint8Array(3 * MB)));
        assert.equal(error.code, 'PLUME_EINPUT');
        assert.match(error.message, /cannot fit the payload store \(maxBytes 2097152\)/);
        assert.equal((await client.request('fits', new Uint8Array(MB + 5))).length, 2);
      } finally {
        await close();
      }
    });

    it('should send everything inline with pullThreshold Infinity', async () => {
      const buffers: ArrayBufferLike[] = [];
      const { client, close } = await pair(
        async ({ body }) => {
          buffers.push(body.buffer);
          return new Uint8Array(0);
        },
        {},
        { pullThreshold: Infinity },
      );
      try {
        await client.request('inline', new Uint8Array(3 * MB));
        assert.ok(buffers[0] instanceof ArrayBuffer, 'an inline body has an ArrayBuffer of its own');
      } finally {
        await close();
      }
    });

    it('should survive a client killed mid-pull and give the buffer up', async () => {
      const store = new PayloadStore();
      // The child's whole body (pull-client.ts): a handler may see it only complete and intact.
      const whole = Buffer.alloc(100 * MB, 0x5a);
      let partial = 0;
      const server = modes[mode].server(
        async ({ body }) => {
          if (Buffer.compare(Buffer.from(body.buffer, body.byteOffset, body.length), whole) !== 0) partial++;
          return body.slice(0, 4);
        },
        { store, logger: () => {} },
      );
      const address = await server.listen();
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, mode, address], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      try {
        const [line] = await once(createInterface({ input: child.stdout }), 'line');
        assert.equal(line, 'sending');
        // Stopped at once, the client cannot finish its body (its thread pool's writes stop with it, which
        // a busy machine could otherwise let finish before the kill). The server takes a lease just before
        // it pulls or reads: kill the client then.
        process.kill(child.pid!, 'SIGSTOP');
        for (let waited = 0; store.stats.inUseBytes === 0 && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
        process.kill(child.pid!, 'SIGKILL');
        await exited;
        for (let waited = 0; store.stats.inUseBytes > 0 && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
        assert.equal(store.stats.inUseBytes, 0, 'the lease ended');
        // Through shared memory a 100 MB body can be written whole before the stop lands (a few ms): then
        // the handler saw all of it, which is allowed; what must never happen is a partial one.
        assert.equal(partial, 0, 'the handler never saw a partial body');
        const client = modes[mode].client();
        await client.connect(address);
        assert.equal((await client.request('after', new Uint8Array(2 * MB).fill(3))).length, 4);
        await client.close();
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
        await server.close();
      }
    });
  });
}

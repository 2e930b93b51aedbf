/**
 * The contract every transport keeps, written once and run against each mode (embedded.test.ts,
 * local.test.ts, networked.test.ts).
 */
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { PlumeError } from '../../../src/errors.ts';
import { rejection } from '../../helpers.ts';
import { FrameType, encodeHeader } from '../../../src/data/transport/frame.ts';
import type {
  ClientOptions,
  RequestHandler,
  ServerOptions,
  Transfer,
  TransportClient,
  TransportLogEvent,
  TransportMode,
  TransportServer,
} from '../../../src/data/transport/transport.ts';

export interface DoomedPeer {
  address: string;
  /** Resolves once the peer has started to answer `big` with 100 MB. */
  responding: Promise<void>;
  /** Ends the peer abruptly (SIGKILL for a child process). */
  kill(): void;
  cleanup(): Promise<void>;
}

export interface TransportFactory {
  mode: TransportMode;
  createServer(handler: RequestHandler, options?: ServerOptions): TransportServer;
  createClient(options?: ClientOptions): TransportClient;
  /** An address nothing listens on. */
  unusedAddress(): Promise<string>;
  /** A server that answers `big` with 100 MB and can be killed while doing so. */
  startDoomedPeer(): Promise<DoomedPeer>;
  /** Socket modes: a raw connection to a server, to feed it bytes that are not frames. */
  rawConnect?: (address: string) => net.Socket;
}

const MB = 1024 * 1024;
const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString();
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const random = (size: number): Uint8Array => randomFillSync(new Uint8Array(size));

export function transportContract(factory: TransportFactory): void {
  /** Starts a server and a client connected to it; close() ends both. */
  async function pair(handler: RequestHandler, serverOptions: ServerOptions = {}, clientOptions: ClientOptions = {}) {
    const server = factory.createServer(handler, serverOptions);
    const address = await server.listen();
    const client = factory.createClient(clientOptions);
    await client.connect(address);
    return {
      server,
      client,
      address,
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  }

  describe(`${factory.mode} transport`, () => {
    it('should carry a request to the handler and its response back', async () => {
      const { client, close } = await pair(async ({ method, body }) => Buffer.from(`${method}:${text(body)}`));
      try {
        assert.equal(text(await client.request('greet', Buffer.from('world'))), 'greet:world');
        assert.equal(text(await client.request('', new Uint8Array(0))), ':');
      } finally {
        await close();
      }
    });

    it('should report each hop at both ends, with what that end copied', async () => {
      const seen: Uint8Array[] = [];
      const answer = Buffer.from('a response of 26 bytes....');
      const server: Transfer[] = [];
      const perRequest: Transfer[] = [];
      const { client, close } = await pair(
        async ({ body }) => {
          seen.push(body);
          return answer;
        },
        { onTransfer: (t) => server.push(t) },
      );
      try {
        const body = Buffer.from('twelve bytes');
        const result = await client.request('hop', body, { onTransfer: (t) => perRequest.push(t) });
        const embedded = factory.mode === 'embedded';
        // embedded hands over references; a socket receiver copies a small payload once (the sender never does)
        assert.equal(seen[0] === body, embedded);
        assert.equal(result === answer, embedded);
        const hop = (direction: string, payload: number, copied: number) => ({
          mode: factory.mode,
          direction,
          method: 'hop',
          bytesMoved: embedded ? payload : 20 + payload,
          bytesCopied: embedded ? 0 : copied,
        });
        const strip = ({ mode, direction, method, bytesMoved, bytesCopied }: Transfer) => ({
          mode,
          direction,
          method,
          bytesMoved,
          bytesCopied,
        });
        const requestBytes = embedded ? 12 : 3 + 12;
        assert.deepEqual(
          perRequest.map(strip).sort((a, b) => a.direction.localeCompare(b.direction)),
          [hop('request', requestBytes, 0), hop('response', 26, 26)],
        );
        assert.deepEqual(server.map(strip), [hop('request', requestBytes, requestBytes), hop('response', 26, 0)]);
      } finally {
        await close();
      }
    });

    it('should match 1000 concurrent responses to their requests when answered in reverse order', async () => {
      const count = 1000;
      const waiting: (() => void)[] = [];
      const answered: number[] = [];
      const { client, close } = await pair(({ body }) => {
        const n = Number(text(body));
        const { promise, resolve } = Promise.withResolvers<Uint8Array>();
        waiting.push(() => {
          answered.push(n);
          resolve(Buffer.from(`answer ${n}`));
        });
        // Hold every answer until all requests are in, then answer last-come first.
        if (waiting.length === count) setImmediate(() => waiting.reverse().forEach((answer) => answer()));
        return promise;
      });
      try {
        const settled: number[] = [];
        const results = await Promise.all(
          Array.from({ length: count }, (_, i) =>
            client.request('n', Buffer.from(String(i))).then((r) => {
              settled.push(i);
              return text(r);
            }),
          ),
        );
        assert.deepEqual(
          results,
          Array.from({ length: count }, (_, i) => `answer ${i}`),
        );
        assert.deepEqual(
          answered,
          [...answered].sort((a, b) => b - a),
          'the server answered in reverse',
        );
        assert.deepEqual(settled, answered, 'the client settled in the order answers came');
      } finally {
        await close();
      }
    });

    it('should move 100 MB each way intact', async () => {
      let receivedDigest = '';
      let response: Uint8Array | undefined = random(100 * MB);
      const responseDigest = sha256(response);
      const { client, close } = await pair(async ({ body }) => {
        receivedDigest = sha256(body);
        const out = response!;
        response = undefined;
        return out;
      });
      try {
        let body: Uint8Array | undefined = random(100 * MB);
        const bodyDigest = sha256(body);
        const result = await client.request('big', body, { timeoutMs: 20_000 });
        body = undefined;
        assert.equal(receivedDigest, bodyDigest);
        assert.equal(result.length, 100 * MB);
        assert.equal(sha256(result), responseDigest);
      } finally {
        await close();
      }
    });

    it('should carry several 10 MB requests at once without mixing them', async () => {
      const { client, close } = await pair(async ({ body }) => {
        // An answer derived from the request, so a crossed stream shows up as a wrong digest.
        const reversed = new Uint8Array(body.length);
        for (let i = 0, j = body.length - 1; i < body.length; i++, j--) reversed[j] = body[i]!;
        return reversed;
      });
      try {
        const bodies = Array.from({ length: 6 }, () => random(10 * MB));
        const expected = bodies.map((b) => sha256(Buffer.from(b).reverse()));
        const results = await Promise.all(bodies.map((b) => client.request('reverse', b, { timeoutMs: 20_000 })));
        assert.deepEqual(results.map(sha256), expected);
      } finally {
        await close();
      }
    });

    it('should rebuild handler errors as PlumeError with their code', async () => {
      const { client, close } = await pair(async ({ method }) => {
        if (method === 'plume') throw new PlumeError('PLUME_ENOFUNC', "no function named 'x'", { name: 'x' });
        if (method === 'plain') throw new SyntaxError('bad input');
        if (method === 'ok') return Buffer.from('still open');
        return 'not bytes' as unknown as Uint8Array;
      });
      try {
        const plume = await rejection(client.request('plume', new Uint8Array(1)));
        assert.equal(plume.code, 'PLUME_ENOFUNC');
        assert.equal(plume.message, "no function named 'x'");
        assert.deepEqual(plume.details, { name: 'x' });
        const plain = await rejection(client.request('plain', new Uint8Array(1)));
        assert.equal(plain.code, 'PLUME_EFAILED');
        assert.equal(plain.message, 'SyntaxError: bad input');
        const wrong = await rejection(client.request('wrong', new Uint8Array(1)));
        assert.equal(wrong.code, 'PLUME_EFAILED');
        assert.match(wrong.message, /not a Uint8Array/);
        assert.equal(text(await client.request('ok', new Uint8Array(0))), 'still open');
      } finally {
        await close();
      }
    });

    it('should time a request out, tell the handler, and keep the connection', async () => {
      const { promise: aborted, resolve: onAbort } = Promise.withResolvers<unknown>();
      const { client, close } = await pair(async ({ method, body, signal }) => {
        if (method !== 'hang') return body;
        return new Promise<Uint8Array>((_, reject) =>
          signal.addEventListener('abort', () => {
            onAbort(signal.reason);
            reject(signal.reason);
          }),
        );
      });
      try {
        const start = performance.now();
        const error = await rejection(client.request('hang', new Uint8Array(0), { timeoutMs: 100 }));
        assert.equal(error.code, 'PLUME_ETIMEOUT');
        assert.ok(performance.now() - start >= 95);
        const reason = await Promise.race([aborted, new Promise((r) => setTimeout(r, 2000, 'not aborted'))]);
        assert.equal((reason as PlumeError).code, 'PLUME_ETIMEOUT');
        assert.equal(text(await client.request('echo', Buffer.from('after'))), 'after');
      } finally {
        await close();
      }
    });

    it('should reject every pending request with PLUME_EPEER when the peer dies mid-transfer', async () => {
      const peer = await factory.startDoomedPeer();
      const client = factory.createClient();
      try {
        await client.connect(peer.address);
        const big = client.request('big', new Uint8Array(0), { timeoutMs: 20_000 });
        const small = client.request('never-answered', new Uint8Array(0), { timeoutMs: 20_000 });
        await peer.responding;
        const killed = performance.now();
        peer.kill();
        const [bigError, smallError] = await Promise.all([rejection(big), rejection(small)]);
        assert.ok(performance.now() - killed < 2000, 'rejected within 2 s');
        assert.equal(bigError.code, 'PLUME_EPEER');
        assert.equal(smallError.code, 'PLUME_EPEER');
        if (factory.rawConnect) assert.match(bigError.message, /mid-frame \(\d+ of 104857620 bytes received\)/);
        assert.equal((await rejection(client.request('after', new Uint8Array(0)))).code, 'PLUME_EPEER');
      } finally {
        await client.close();
        await peer.cleanup();
      }
    });

    it('should drop a connection that sends a corrupt frame, log it, and keep serving others', { skip: !factory.rawConnect }, async () => {
      const logged: TransportLogEvent[] = [];
      const published: unknown[] = [];
      const subscriber = (event: unknown) => published.push(event);
      diagnostics.subscribe('plume:transport:error', subscriber);
      const { client, address, close } = await pair(async ({ body }) => body, { logger: (e) => logged.push(e), maxPayload: MB });
      try {
        const badChecksum = encodeHeader({ type: FrameType.Request, aux: 0, id: 1, length: 4 });
        badChecksum[9] ^= 0x01;
        const corrupt: [string, Uint8Array][] = [
          ['bad magic', Buffer.from('GET / HTTP/1.1\r\nHost: plume\r\n\r\n')],
          ['header checksum mismatch', badChecksum],
          ['exceeds the limit', encodeHeader({ type: FrameType.Request, aux: 0, id: 1, length: 2 * MB })],
        ];
        for (const [reason, bytes] of corrupt) {
          const raw = factory.rawConnect!(address);
          raw.on('error', () => {});
          await once(raw, 'connect');
          raw.write(bytes);
          await once(raw, 'close');
          assert.match(logged.at(-1)?.message ?? '', new RegExp(`dropped connection .*malformed frame: .*${reason}`));
          assert.equal(text(await client.request('echo', Buffer.from(reason))), reason);
        }
        assert.equal(logged.length, 3, 'one line per dropped connection');
        assert.equal(published.length, 3);
        assert.ok(logged.every((e) => e.mode === factory.mode && (e.error as PlumeError).code === 'PLUME_EFRAME'));
        const late = factory.createClient();
        await late.connect(address);
        assert.equal(text(await late.request('echo', Buffer.from('new client'))), 'new client');
        await late.close();
      } finally {
        diagnostics.unsubscribe('plume:transport:error', subscriber);
        await close();
      }
    });

    it('should refuse a request larger than the frame limit without dropping the connection', { skip: !factory.rawConnect }, async () => {
      const { client, close } = await pair(async ({ body }) => body, { maxPayload: MB }, { maxPayload: MB });
      try {
        assert.equal((await rejection(client.request('big', new Uint8Array(MB)))).code, 'PLUME_EINPUT');
        assert.equal(text(await client.request('echo', Buffer.from('fits'))), 'fits');
      } finally {
        await close();
      }
    });

    it('should fail pending requests with PLUME_ECLOSED on close, and refuse new ones', async () => {
      const { client, close } = await pair(() => new Promise<Uint8Array>(() => {}));
      try {
        const pending = rejection(client.request('forever', new Uint8Array(0)));
        await new Promise((r) => setTimeout(r, 20));
        await client.close();
        assert.equal((await pending).code, 'PLUME_ECLOSED');
        assert.equal((await rejection(client.request('again', new Uint8Array(0)))).code, 'PLUME_ECLOSED');
      } finally {
        await close();
      }
    });

    it('should fail pending requests with PLUME_EPEER when the server closes', async () => {
      const { promise: started, resolve: start } = Promise.withResolvers<AbortSignal>();
      const { server, client, close } = await pair(({ signal }) => {
        start(signal);
        return new Promise<Uint8Array>(() => {});
      });
      try {
        const pending = rejection(client.request('forever', new Uint8Array(0)));
        const signal = await started;
        await server.close();
        assert.equal((await pending).code, 'PLUME_EPEER');
        assert.ok(signal.aborted, "the handler's signal is aborted");
      } finally {
        await close();
      }
    });

    it('should reject connect with PLUME_EPEER when nothing listens', async () => {
      const client = factory.createClient();
      const error = await rejection(client.connect(await factory.unusedAddress()));
      assert.equal(error.code, 'PLUME_EPEER');
    });
  });
}

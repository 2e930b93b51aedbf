/**
 * Liveness on the socket transports (src/data/transport/liveness.ts): a client with `peerTimeoutMs` pings a
 * quiet server and ends the connection as lost when nothing comes back; a server answers pings from its
 * main thread, with one pong for a batch of them; a ping or pong at the wrong end is refused like any frame
 * that end does not take. Nodes that stop answering for real (SIGSTOP, a cut link) are in
 * test/cluster/failover.test.ts and done-failover.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameType, HEADER_BYTES, PING_FRAME, PONG_FRAME, decodeHeader, encodeHeader } from '../../../src/data/transport/frame.ts';
import { createNetworkedClient, createNetworkedServer, parseHostPort } from '../../../src/data/transport/networked.ts';
import { checkPeerTimeout } from '../../../src/data/transport/liveness.ts';
import type { PlumeError } from '../../../src/errors.ts';

const quiet = { logger: () => {} };

/** A TCP server that accepts and then never sends a byte: a host that went silent. */
async function silentServer(): Promise<{ address: string; received: () => Buffer; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let received = Buffer.alloc(0);
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Splits bytes into 20-byte headers (every frame here has no payload) and names their types. */
function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + HEADER_BYTES <= bytes.length; at += HEADER_BYTES) types.push(bytes[at + 3]!);
  return types;
}

describe('transport liveness', () => {
  it('should ping a quiet server and fail the requests in flight with PLUME_EPEER when nothing comes back', async () => {
    const silent = await silentServer();
    const lost: PlumeError[] = [];
    const client = createNetworkedClient({ ...quiet, peerTimeoutMs: 200, onLost: (reason) => lost.push(reason) });
    try {
      await client.connect(silent.address);
      const error = (await client.request('work', Buffer.from('x'), { timeoutMs: 30_000 }).catch((e: unknown) => e)) as PlumeError;
      assert.equal(error.code, 'PLUME_EPEER');
      assert.match(error.message, /request 'work' failed: peer 127\.0\.0\.1:\d+ was lost: nothing arrived from it for 200 ms/);
      assert.equal(lost.length, 1);
      assert.equal(lost[0]!.code, 'PLUME_EPEER');
      // What the silent server got: the request, then pings (each exactly the constant frame).
      const types = frameTypes(silent.received().subarray(HEADER_BYTES + 'work'.length + 1));
      assert.ok(types.length >= 1, 'at least one ping was sent');
      assert.deepEqual(new Set(types), new Set([FrameType.Ping]));
      // A lost connection takes no more requests.
      assert.equal(((await client.request('work', Buffer.from('x')).catch((e: unknown) => e)) as PlumeError).code, 'PLUME_EPEER');
    } finally {
      await client.close();
      await silent.close();
    }
  });

  it('should lose an idle connection to a silent server too, and settle a connect that never completes its handshake', async () => {
    const silent = await silentServer();
    const lost: PlumeError[] = [];
    const idle = createNetworkedClient({ ...quiet, peerTimeoutMs: 200, onLost: (reason) => lost.push(reason) });
    // With a secret the client waits for the server's hello, which a silent server never sends.
    const authenticating = createNetworkedClient({ ...quiet, peerTimeoutMs: 200, secret: 'a-cluster-secret-of-32-bytes-xxxx' });
    try {
      await idle.connect(silent.address);
      const started = performance.now();
      while (lost.length === 0 && performance.now() - started < 10_000) await sleep(20);
      assert.equal(lost.length, 1, 'the idle connection was declared lost');
      const error = (await authenticating.connect(silent.address).catch((e: unknown) => e)) as PlumeError;
      assert.equal(error.code, 'PLUME_EPEER');
      assert.match(error.message, /was lost: nothing arrived from it for 200 ms/);
    } finally {
      await idle.close();
      await authenticating.close();
      await silent.close();
    }
  });

  it('should keep a connection whose handler runs for many timeouts: the server answers pings meanwhile', async () => {
    const server = createNetworkedServer(async ({ body }) => {
      await sleep(1000);
      return body;
    }, quiet);
    const lost: PlumeError[] = [];
    const client = createNetworkedClient({ ...quiet, peerTimeoutMs: 150, onLost: (reason) => lost.push(reason) });
    try {
      await client.connect(await server.listen());
      const answer = await client.request('slow', Buffer.from('still here'));
      assert.equal(Buffer.from(answer).toString(), 'still here');
      assert.deepEqual(lost, []);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("should not lose a connection when this end's own event loop stalls for many timeouts", async () => {
    const server = createNetworkedServer(async ({ body }) => body, quiet);
    const lost: PlumeError[] = [];
    const client = createNetworkedClient({ ...quiet, peerTimeoutMs: 150, onLost: (reason) => lost.push(reason) });
    try {
      await client.connect(await server.listen());
      await client.request('before', Buffer.from('x'));
      // This thread (client and server alike) does nothing for 1 s: its timer then runs once, not as a loss.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      assert.equal(Buffer.from(await client.request('after', Buffer.from('still here'))).toString(), 'still here');
      await sleep(400); // more ticks: pings answered
      assert.deepEqual(lost, []);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should answer a flood of pings with one pong per batch, and serve requests on the same connection after it', async () => {
    const server = createNetworkedServer(async ({ body }) => body, quiet);
    const socket = net.connect(parseHostPort(await server.listen()));
    try {
      socket.on('error', () => {});
      await once(socket, 'connect');
      const PINGS = 20_000;
      let received = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      await new Promise<void>((resolve) => socket.write(Buffer.concat(Array.from({ length: PINGS }, () => PING_FRAME)), () => resolve()));
      const name = Buffer.from('echo');
      const body = Buffer.from('after the flood');
      socket.write(encodeHeader({ type: FrameType.Request, aux: name.length, id: 1, length: name.length + body.length }));
      socket.write(Buffer.concat([name, body]));
      const started = performance.now();
      while (!received.includes(body) && performance.now() - started < 10_000) await sleep(10);
      const answerAt = received.indexOf(body) - HEADER_BYTES;
      assert.ok(answerAt >= 0, 'the request after the flood was answered');
      const pongs = received.subarray(0, answerAt);
      const types = frameTypes(pongs);
      assert.ok(types.length >= 1 && types.length < PINGS / 10, `${types.length} pongs for ${PINGS} pings`);
      assert.ok(pongs.equals(Buffer.concat(types.map(() => PONG_FRAME))), 'only pongs came before the answer');
      assert.equal(decodeHeader(received.subarray(answerAt)).type, FrameType.Response);
    } finally {
      socket.destroy();
      await server.close();
    }
  });

  it('should drop a client that sends a pong, and fail a client whose server sends a ping', async () => {
    const logged: string[] = [];
    const server = createNetworkedServer(async ({ body }) => body, { logger: (e) => logged.push(e.message) });
    const socket = net.connect(parseHostPort(await server.listen()));
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(PONG_FRAME);
    await once(socket, 'close');
    assert.match(logged.join('\n'), /dropped connection 127\.0\.0\.1:\d+: malformed frame: a pong from a client/);
    await server.close();

    // A server that answers a request with a ping: the client refuses it as it refuses any frame a server must not send.
    const rogue = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write(PING_FRAME));
    });
    await new Promise<void>((resolve) => rogue.listen(0, '127.0.0.1', resolve));
    const client = createNetworkedClient(quiet);
    try {
      await client.connect(`127.0.0.1:${(rogue.address() as net.AddressInfo).port}`);
      const error = (await client.request('echo', Buffer.from('x')).catch((e: unknown) => e)) as PlumeError;
      assert.equal(error.code, 'PLUME_EFRAME');
      assert.match(error.message, /a ping from a server/);
    } finally {
      await client.close();
      await new Promise((resolve) => rogue.close(resolve));
    }
  });

  it('should refuse a peer timeout that is not 0 or at least 100 ms', () => {
    assert.equal(checkPeerTimeout(0), 0);
    assert.equal(checkPeerTimeout(1000), 1000);
    for (const bad of [-1, 50, 99, 1.5, Number.NaN, '1000'])
      assert.throws(() => createNetworkedClient({ peerTimeoutMs: bad as number }), {
        name: 'RangeError',
        message: /peerTimeoutMs must be 0 \(off\) or an integer number of ms in \[100, 2\^31\)/,
      });
  });
});

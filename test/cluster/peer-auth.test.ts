/**
 * Peer security at the transport (docs/dataplane.md, Peer security): with a cluster secret every connection
 * opens with a mutual HMAC handshake, and nothing else it sends is parsed before that; a frame can never
 * make a server dial where it says, nor reserve more than the method takes. Real sockets, both socket modes.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FrameFlag, encodeHeader } from '../../src/data/transport/frame.ts';
import { createLocalClient, createLocalServer } from '../../src/data/transport/local.ts';
import { createNetworkedClient, createNetworkedServer } from '../../src/data/transport/networked.ts';
import type { ClientOptions, ServerOptions } from '../../src/data/transport/transport.ts';
import { rejection } from '../helpers.ts';
import { authenticated, closedWithin, dial, requestByRef, requestFrame, serverHello, tripwire } from './peer-auth-raw.ts';

const SECRET = 'a'.repeat(24) + '-cluster-secret';
const WRONG = 'b'.repeat(24) + '-cluster-secret';
const MB = 1024 * 1024;
const modes = {
  local: { server: createLocalServer, client: createLocalClient },
  networked: { server: createNetworkedServer, client: createNetworkedClient },
} as const;

/** A server whose handler counts the requests it ran and echoes their body. */
async function counting(mode: keyof typeof modes, options: ServerOptions = {}) {
  let ran = 0;
  const server = modes[mode].server(
    async ({ body }) => {
      ran++;
      return Uint8Array.from(body);
    },
    { logger: () => {}, ...options },
  );
  const address = await server.listen();
  return { address, ran: () => ran, close: () => server.close() };
}

async function connected(mode: keyof typeof modes, address: string, options: ClientOptions) {
  const client = modes[mode].client({ logger: () => {}, ...options });
  await client.connect(address);
  return client;
}

for (const mode of ['local', 'networked'] as const) {
  describe(`peer authentication over ${mode}`, () => {
    it('should serve a client with the secret, small and large bodies alike', async () => {
      const server = await counting(mode, { secret: SECRET });
      const client = await connected(mode, server.address, { secret: SECRET });
      try {
        assert.equal(Buffer.from(await client.request('m', Buffer.from('hi'))).toString(), 'hi');
        // Past the large-body threshold: a shared file (local) or a pull over a connection of its own, also authenticated.
        const big = new Uint8Array(3 * MB).map((_, i) => i % 251);
        assert.deepEqual(await client.request('m', big), big);
        assert.equal(server.ran(), 2);
      } finally {
        await client.close();
        await server.close();
      }
    });

    it('should close a client without a secret before running anything', async () => {
      const server = await counting(mode, { secret: SECRET });
      const client = await connected(mode, server.address, {});
      try {
        const error = await rejection(client.request('m', Buffer.from('hi')));
        assert.match(error.code, /PLUME_EFRAME|PLUME_EPEER/);
        assert.match(error.message, /authentication handshake|closed/);
        assert.equal(server.ran(), 0);
      } finally {
        await client.close();
        await server.close();
      }
    });

    it('should refuse a wrong secret on either end, and a server without one', async () => {
      const server = await counting(mode, { secret: SECRET });
      const open = await counting(mode);
      try {
        const wrong = await rejection(connected(mode, server.address, { secret: WRONG }));
        assert.equal(wrong.code, 'PLUME_EPEER');
        assert.match(wrong.message, /peer authentication failed: the server's proof is wrong/);
        const none = await rejection(connected(mode, open.address, { secret: SECRET }));
        assert.equal(none.code, 'PLUME_EPEER');
        assert.match(none.message, /peer authentication failed/);
        assert.equal(server.ran() + open.ran(), 0);
      } finally {
        await server.close();
        await open.close();
      }
    });

    it('should refuse a secret shorter than 16 bytes', () => {
      assert.throws(() => modes[mode].server(async (r) => r.body, { secret: 'short' }), /at least 16 bytes.*openssl rand -hex 32/);
      assert.throws(() => modes[mode].client({ secret: '' }), RangeError);
    });

    it('should close garbage, a huge claimed frame, a reflected proof, an echoed nonce and a slow handshake', async () => {
      const server = await counting(mode, { secret: SECRET, handshakeTimeoutMs: 300 });
      try {
        const garbage = dial(server.address);
        garbage.write(Buffer.alloc(4096, 0x41));
        assert.ok(await closedWithin(garbage, 5000), 'garbage: closed');

        const huge = dial(server.address);
        huge.write(encodeHeader({ type: 1, aux: 0, id: 1, length: 0xffff_fff0 }));
        assert.ok(await closedWithin(huge, 5000), 'a 4 GiB frame claim: closed');

        const plain = dial(server.address);
        plain.write(requestFrame('m', Buffer.from('run me')));
        assert.ok(await closedWithin(plain, 5000), 'a frame without a handshake: closed');

        // The server's own hello sent back: its nonce echoed.
        const echo = dial(server.address);
        echo.write(await serverHello(echo));
        assert.ok(await closedWithin(echo, 5000), 'an echoed nonce: closed');

        // A hello of our own, then the server's proof (for the server role) sent back as ours.
        const reflect = dial(server.address);
        const hello = await serverHello(reflect);
        const mine = Buffer.from(hello);
        mine[8] ^= 0xff;
        reflect.write(mine);
        let proof = hello.subarray(40);
        while (proof.length < 32) proof = Buffer.concat([proof, await new Promise<Buffer>((r) => reflect.once('data', r))]);
        reflect.write(proof.subarray(0, 32));
        assert.ok(await closedWithin(reflect, 5000), 'a reflected proof: closed');

        const slow = dial(server.address);
        slow.write(Buffer.from('PAUT'));
        assert.ok(await closedWithin(slow, 5000), 'a handshake that never ends: closed after its timeout');
        assert.equal(server.ran(), 0);
      } finally {
        await server.close();
      }
    });

    it('should refuse a claimed body over the limit before reserving or fetching anything', async () => {
      const server = await counting(mode, { secret: SECRET, bodyLimit: () => 1024 });
      const wire = await tripwire(
        mode === 'local' ? { path: join(tmpdir(), `plume-${process.pid}-${'c'.repeat(12)}.sock`) } : { host: '127.0.0.1', port: 0 },
      );
      try {
        const socket = await authenticated(server.address, SECRET);
        const error = await requestByRef(socket, 'm', { length: 200 * MB, address: wire.address });
        assert.ok(typeof error === 'object', `an error answer, got ${String(error)}`);
        assert.equal(error.code, 'PLUME_ETOOBIG');
        assert.match(error.message, /claims a body of 209715200 bytes; the limit is 1024/);
        assert.equal(wire.hits(), 0, 'nothing was pulled');
        assert.equal(server.ran(), 0);
      } finally {
        await wire.close();
        await server.close();
      }
    });
  });
}

describe('a frame naming a foreign place', () => {
  it('networked: should not dial another host than the client', async () => {
    const server = await counting('networked', { secret: SECRET });
    const wire = await tripwire({ host: '127.0.0.2', port: 0 });
    try {
      const socket = await authenticated(server.address, SECRET);
      const error = await requestByRef(socket, 'm', { length: 2 * MB, address: wire.address });
      assert.ok(typeof error === 'object', `an error answer, got ${String(error)}`);
      assert.equal(error.code, 'PLUME_EINPUT');
      assert.match(error.message, /127\.0\.0\.2:\d+ is not on the client's host/);
      assert.equal(wire.hits(), 0, 'no connection was made');
      assert.equal(server.ran(), 0);
    } finally {
      await wire.close();
      await server.close();
    }
  });

  it("local: should not dial a socket that is not a pull server's, nor read a file that is not a body file", async () => {
    const server = await counting('local', { secret: SECRET });
    const path = join(tmpdir(), `foreign-${process.pid}.sock`);
    const wire = await tripwire({ path });
    const secretFile = join(tmpdir(), `plume-peer-auth-${process.pid}.txt`);
    writeSync(openSync(secretFile, 'w'), 'not for peers');
    const fd = openSync(secretFile, 'r');
    try {
      const pulled = await requestByRef(await authenticated(server.address, SECRET), 'm', { length: 2 * MB, address: path });
      assert.ok(typeof pulled === 'object', `an error answer, got ${String(pulled)}`);
      assert.equal(pulled.code, 'PLUME_EINPUT');
      assert.match(pulled.message, /is not a pull server's socket/);
      assert.equal(wire.hits(), 0, 'no connection was made');
      for (const address of [`/proc/${process.pid}/fd/${fd}`, secretFile, '/proc/1/fd/0']) {
        const shared = await requestByRef(await authenticated(server.address, SECRET), 'm', { length: 13, address }, FrameFlag.Shared);
        assert.ok(typeof shared === 'object', `${address}: an error answer, got ${String(shared)}`);
        // pid 1's descriptors are not even readable here: refused all the same.
        assert.match(shared.message, /cannot be read from shared memory: .*(not a shared body file|EACCES|EPERM)/, address);
      }
      assert.equal(server.ran(), 0);
    } finally {
      closeSync(fd);
      unlinkSync(secretFile);
      await wire.close();
      await server.close();
    }
  });
});

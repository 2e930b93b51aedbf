/**
 * Shared-memory bodies (`local` mode): a large request body is written into an unlinked tmpfs file of the
 * client and read by the server, on the same host, straight into its store as the client announces it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readdirSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { PayloadStore } from '../../../src/data/store.ts';
import {
  FrameDecoder,
  FrameFlag,
  FrameType,
  encodeHeader,
  encodePullRef,
  PULL_TOKEN_BYTES,
  type Frame,
} from '../../../src/data/transport/frame.ts';
import { createLocalClient, createLocalServer } from '../../../src/data/transport/local.ts';
import { createNetworkedServer } from '../../../src/data/transport/networked.ts';
import { SharedFiles, sharedFilesAvailable } from '../../../src/data/transport/shared-files.ts';
import { decodeError, type RequestHandler, type Transfer, type TransportLogEvent } from '../../../src/data/transport/transport.ts';

const MB = 1024 * 1024;
const ours = (): string[] => readdirSync('/dev/shm').filter((name) => name.startsWith(`plume-body-${process.pid}-`));

/** Sends one hand-made request frame (method `m`) on a raw connection and resolves with the answer frame, or undefined if the server hangs up. */
async function rawRequest(
  connect: () => net.Socket,
  ref: { length: number; address: string },
  progress?: number,
  flags: number = FrameFlag.Shared,
): Promise<Frame | undefined> {
  const socket = connect();
  socket.on('error', () => {});
  await once(socket, 'connect');
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  const payload = Buffer.concat([Buffer.from('m'), encodePullRef({ ...ref, token: new Uint8Array(PULL_TOKEN_BYTES) })]);
  socket.write(encodeHeader({ type: FrameType.Request, flags, aux: 1, id: 1, length: payload.length }));
  socket.write(payload);
  if (progress !== undefined) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(progress);
    socket.write(Buffer.concat([encodeHeader({ type: FrameType.Progress, aux: 0, id: 1, length: 4 }), bytes]));
  }
  await new Promise<void>((resolve) => {
    socket.on('data', () => frames.length && resolve());
    socket.on('close', () => resolve());
  });
  socket.destroy();
  return frames[0];
}

async function localPair(handler: RequestHandler, onTransfer?: { server: Transfer[]; client: Transfer[] }, logged?: TransportLogEvent[]) {
  const store = new PayloadStore();
  const server = createLocalServer(handler, {
    store,
    ...(onTransfer ? { onTransfer: (t: Transfer) => onTransfer.server.push(t) } : {}),
    ...(logged ? { logger: (e: TransportLogEvent) => logged.push(e) } : {}),
  });
  const address = await server.listen();
  const client = createLocalClient(onTransfer ? { onTransfer: (t) => onTransfer.client.push(t) } : {});
  await client.connect(address);
  return {
    store,
    address,
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

describe('shared-memory bodies over local', { skip: !sharedFilesAvailable && 'no /dev/shm and /proc here' }, () => {
  it('should move a large body through an unlinked shared file into the store, intact, and leave no file behind', async () => {
    const transfers = { server: [] as Transfer[], client: [] as Transfer[] };
    const buffers: ArrayBufferLike[] = [];
    const { client, close } = await localPair(async ({ body }) => {
      buffers.push(body.buffer);
      let sum = 0;
      for (let i = 0; i < body.length; i += 4093) sum = (sum + body[i]!) % 65521;
      return Buffer.from(`${body.length}:${sum}`);
    }, transfers);
    try {
      const body = new Uint8Array(37 * MB + 3).map((_, i) => (i * 7) & 0xff);
      let sum = 0;
      for (let i = 0; i < body.length; i += 4093) sum = (sum + body[i]!) % 65521;
      assert.equal(Buffer.from(await client.request('sum', body)).toString(), `${body.length}:${sum}`);
      assert.ok(buffers[0] instanceof SharedArrayBuffer, 'the body lies in the store');
      const request = (list: Transfer[]) => list.find((t) => t.direction === 'request')!;
      assert.equal(request(transfers.client).bytesMoved, request(transfers.server).bytesMoved);
      assert.ok(request(transfers.client).bytesMoved > body.length);
      assert.equal(request(transfers.client).bytesCopied, 0, 'written by the kernel straight from the body');
      assert.equal(request(transfers.server).bytesCopied, 0, 'read by the kernel straight into the store');
      assert.deepEqual(ours(), [], 'files are unlinked as soon as they are made');
      // Several at once, each into its own file.
      const answers = await Promise.all([1, 2, 3].map((k) => client.request('sum', new Uint8Array(3 * MB).fill(k))));
      assert.deepEqual(
        answers.map((a) => Buffer.from(a).toString().split(':')[0]),
        ['3145728', '3145728', '3145728'],
      );
    } finally {
      await close();
    }
  });

  it('should write a body that is a view into a larger buffer from that view alone, byte for byte', async () => {
    const { client, close } = await localPair(async ({ body }) => Buffer.from(body));
    try {
      // Written straight from the caller's view (no staging copy): the bytes around it must not leak in.
      const backing = new Uint8Array(9 * MB).fill(0xee);
      const body = backing.subarray(MB + 3, 7 * MB + 5);
      body.forEach((_, i) => (body[i] = (i * 13) & 0xff));
      const expected = Buffer.from(body);
      const answer = await client.request('echo', body);
      assert.equal(answer.length, body.length);
      assert.ok(Buffer.from(answer.buffer, answer.byteOffset, answer.length).equals(expected), 'the body arrived changed');
      assert.ok(Buffer.from(body).equals(expected), "the caller's body was changed");
      assert.ok(backing.subarray(0, MB + 3).every((b) => b === 0xee) && backing.subarray(7 * MB + 5).every((b) => b === 0xee));
      assert.deepEqual(ours(), [], 'files are unlinked as soon as they are made');
    } finally {
      await close();
    }
  });

  it('should stop writing a body whose request timed out, close its file, and go on', async () => {
    const { client, close } = await localPair(async ({ body }) => Buffer.from(`${body.length}`));
    try {
      const fds = (): number => readdirSync('/proc/self/fd').length;
      await client.request('warm', new Uint8Array(2 * MB)); // the connection and a spare file exist
      const before = fds();
      const body = new Uint8Array(100 * MB).fill(1);
      await assert.rejects(client.request('slow', body, { timeoutMs: 1 }), { code: 'PLUME_ETIMEOUT' });
      // Its file is closed, not kept for reuse (the server, in this process too, closes its own once the
      // cancel reaches it).
      for (let waited = 0; fds() > before && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.ok(fds() <= before, `descriptors: ${fds()} after, ${before} before`);
      assert.equal(Buffer.from(await client.request('after', new Uint8Array(3 * MB))).toString(), String(3 * MB));
    } finally {
      await close();
    }
  });

  it('should say whether a body fits: in a spare file, or in the free space of /dev/shm', () => {
    const files = new SharedFiles(10 * MB);
    const { bavail, bsize } = statfsSync('/dev/shm');
    assert.equal(files.fits(MB), bavail * bsize >= MB);
    assert.equal(files.fits(bavail * bsize + MB), false, 'more than the tmpfs has free: pulled instead');
    const file = files.acquire(MB);
    file.size = 2 * MB;
    files.release(file);
    assert.equal(files.fits(2 * MB), true);
    files.forget(files.acquire(2 * MB));
  });

  it('should lend each file to one body at a time and reuse the one that fits best', () => {
    const files = new SharedFiles(10 * MB);
    const a = files.acquire(MB);
    const b = files.acquire(MB);
    assert.notEqual(a.fd, b.fd);
    assert.match(a.path, new RegExp(`^/proc/${process.pid}/fd/${a.fd}$`));
    a.size = 4 * MB;
    b.size = 2 * MB;
    files.release(a);
    files.release(b);
    assert.equal(files.acquire(2 * MB).fd, b.fd, 'the smallest that fits');
    assert.equal(files.acquire(8 * MB).fd, a.fd, 'else the largest, to grow');
    const big = files.acquire(MB);
    big.size = 11 * MB;
    files.release(big); // past the spare limit: closed, not kept
    assert.throws(() => fstatSync(big.fd), /EBADF/);
    files.forget(a);
    files.forget(b);
  });

  it('should answer PLUME_EINPUT for a reference that is not a client descriptor, or one that is gone, and keep the connection', async () => {
    const { address, client, close } = await localPair(async ({ body }) => body.subarray(0, 1));
    try {
      const connect = () => net.connect({ path: address });
      for (const [path, message] of [
        ['/etc/passwd', /cannot be read from shared memory: '\/etc\/passwd' is not a shared body file/],
        [`/proc/${process.pid}/fd/987654`, /cannot be read from shared memory: .*ENOENT/],
      ] as const) {
        const answer = await rawRequest(connect, { length: 2 * MB, address: path }, 2 * MB);
        assert.equal(answer?.type, FrameType.Error, path);
        const error = decodeError(answer!.payload);
        assert.equal(error.code, 'PLUME_EINPUT');
        assert.match(error.message, message);
      }
      assert.equal((await client.request('after', new Uint8Array(2 * MB).fill(1))).length, 1, 'the server still serves');
    } finally {
      await close();
    }
  });

  it('should refuse a shared body shorter than its writer announced', async () => {
    const { address, close } = await localPair(async ({ body }) => body.subarray(0, 1));
    // A body file as a client makes one (the server reads nothing else): unlinked once open.
    const path = `/dev/shm/plume-body-${process.pid}-${'ab'.repeat(8)}`;
    const fd = openSync(path, 'w+');
    unlinkSync(path);
    try {
      writeSync(fd, new Uint8Array(MB));
      const answer = await rawRequest(
        () => net.connect({ path: address }),
        { length: 2 * MB, address: `/proc/${process.pid}/fd/${fd}` },
        2 * MB,
      );
      const error = decodeError(answer!.payload);
      assert.equal(error.code, 'PLUME_EFRAME');
      assert.match(error.message, /the shared body of 'm' has 1048576 bytes, not 2097152/);
    } finally {
      closeSync(fd);
      await close();
    }
  });

  it('should drop a networked connection that offers a shared body: files are for the same host only', async () => {
    const logged: TransportLogEvent[] = [];
    const server = createNetworkedServer(async ({ body }) => body, { logger: (e) => logged.push(e) });
    const address = await server.listen();
    try {
      const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
      const answer = await rawRequest(() => net.connect({ host, port }), { length: 2 * MB, address: `/proc/${process.pid}/fd/0` }, 2 * MB);
      assert.equal(answer, undefined, 'no answer: the connection was dropped');
      assert.match(logged.at(-1)?.message ?? '', /dropped connection .*a shared-memory body, which a networked server does not take/);
    } finally {
      await server.close();
    }
  });
});

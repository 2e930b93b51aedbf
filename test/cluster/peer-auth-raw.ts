/**
 * Raw peer connections for the peer-security tests: what an attacker (or a well-behaved client written by
 * hand) sends on a peer port, byte by byte, with the real handshake and frame codecs.
 */
import { once } from 'node:events';
import net from 'node:net';
import { parseHostPort } from '../../src/data/transport/networked.ts';
import { Handshake, HELLO_BYTES, secretKey } from '../../src/data/transport/handshake.ts';
import {
  FrameDecoder,
  FrameFlag,
  FrameType,
  PULL_TOKEN_BYTES,
  encodeHeader,
  encodePullRef,
  type Frame,
} from '../../src/data/transport/frame.ts';
import { decodeError } from '../../src/data/transport/transport.ts';
import type { PlumeError } from '../../src/errors.ts';

/** A connection to a peer address: `host:port` (networked) or a socket path (local). */
export function dial(address: string): net.Socket {
  const socket = address.startsWith('/') ? net.connect({ path: address }) : net.connect(parseHostPort(address));
  socket.on('error', () => {});
  return socket;
}

/** Resolves once the other end has closed the connection (or after `ms`, with false). */
export async function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return true;
  socket.resume(); // a paused socket never sees its end
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  socket.destroy();
  return closed;
}

/** Connects and completes the handshake with `secret`; rejects when the server refuses it. */
export async function authenticated(address: string, secret: string): Promise<net.Socket> {
  const socket = dial(address);
  await once(socket, 'connect');
  const handshake = new Handshake('client', secretKey(secret), (bytes) => socket.write(bytes));
  handshake.start();
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      try {
        if (handshake.push(chunk) === undefined) return;
        socket.off('data', onData);
        resolve();
      } catch (error) {
        socket.destroy();
        reject(error as Error);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
  return socket;
}

/** The server's hello, read off a fresh connection (it sends it at once). */
export async function serverHello(socket: net.Socket): Promise<Buffer> {
  let got = Buffer.alloc(0);
  while (got.length < HELLO_BYTES) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  return got;
}

/** Sends a request whose body lies elsewhere (a pull or shared-file reference) and waits for the answer's error. */
export async function requestByRef(
  socket: net.Socket,
  method: string,
  ref: { length: number; address: string },
  flags: number = FrameFlag.Pull,
): Promise<PlumeError | 'closed' | 'answered'> {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  const prefix = Buffer.from(method);
  const payload = Buffer.concat([prefix, encodePullRef({ ...ref, token: new Uint8Array(PULL_TOKEN_BYTES) })]);
  socket.write(encodeHeader({ type: FrameType.Request, flags, aux: prefix.length, id: 1, length: payload.length }));
  socket.write(payload);
  if (flags & FrameFlag.Shared) {
    const progress = Buffer.alloc(4);
    progress.writeUInt32BE(ref.length);
    socket.write(Buffer.concat([encodeHeader({ type: FrameType.Progress, aux: 0, id: 1, length: 4 }), progress]));
  }
  await new Promise<void>((resolve) => {
    socket.on('data', () => frames.length && resolve());
    socket.on('close', () => resolve());
  });
  socket.destroy();
  const frame = frames[0];
  if (!frame) return 'closed';
  return frame.type === FrameType.Error ? decodeError(frame.payload) : 'answered';
}

/** A plain request frame (what a client without a secret sends first). */
export function requestFrame(method: string, body: Uint8Array): Buffer {
  const prefix = Buffer.from(method);
  return Buffer.concat([
    encodeHeader({ type: FrameType.Request, aux: prefix.length, id: 1, length: prefix.length + body.length }),
    prefix,
    body,
  ]);
}

/** Counts the connections made to it: a place a frame names, which must never be dialled. */
export async function tripwire(listen: net.ListenOptions): Promise<{ address: string; hits(): number; close(): Promise<void> }> {
  let hits = 0;
  const server = net.createServer((socket) => {
    hits++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'string' ? bound : `${bound!.address}:${bound!.port}`;
  return { address, hits: () => hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

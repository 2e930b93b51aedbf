/**
 * `bench transfer`'s `tcp-raw` case: the same bytes over plain Node TCP on the same link (loopback), to a
 * child process (tcp-raw-receiver.ts) that reads every byte into a reused buffer and answers with one
 * byte. The figure the `networked` transport is held to (issue 16: ≤ 1.3 × this at every size).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const RECEIVER = fileURLToPath(new URL('./tcp-raw-receiver.ts', import.meta.url));
const CONNECT_MS = 30_000;

export interface RawLink {
  /** The receiver's process id. */
  readonly pid: number;
  /** Sends `bytes` and resolves once the receiver has all of them (its one-byte answer is here). */
  send(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Starts the receiver (room for `capacity` bytes per message) and waits for its connection. */
export async function openRawLink(capacity: number): Promise<RawLink> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const child: ChildProcess = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', RECEIVER, String(port), String(capacity)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let socket: net.Socket;
  try {
    socket = await new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcp-raw receiver did not connect within ${CONNECT_MS} ms`)), CONNECT_MS);
      child.once('exit', (code) => reject(new Error(`tcp-raw receiver exited (code ${code}) before connecting`)));
      server.once('connection', (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    server.close();
    throw error;
  }
  server.close();
  socket.setNoDelay(true);
  let waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const settle = (error?: Error): void => {
    const waiter = waiting;
    waiting = undefined;
    if (error) waiter?.reject(error);
    else waiter?.resolve();
  };
  socket.on('data', () => settle());
  socket.on('error', () => {});
  socket.on('close', () => settle(new Error('tcp-raw: the receiver hung up')));
  const length = Buffer.alloc(4);
  return {
    pid: child.pid!,
    send(bytes) {
      if (bytes.length > capacity) return Promise.reject(new RangeError(`tcp-raw: ${bytes.length} bytes exceed ${capacity}`));
      if (socket.destroyed) return Promise.reject(new Error('tcp-raw: the receiver hung up'));
      const answered = new Promise<void>((resolve, reject) => (waiting = { resolve, reject }));
      length.writeUInt32BE(bytes.length, 0);
      socket.cork();
      socket.write(length);
      socket.write(bytes);
      socket.uncork();
      return answered;
    },
    async close() {
      const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve();
      socket.destroy();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

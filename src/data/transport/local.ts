/**
 * CWASI's `local` mode: another process on the same host, over a Unix domain socket. The address is the
 * socket's path; `listen()` without one picks a fresh path in `os.tmpdir()`.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, normalize } from 'node:path';
import { sharedFilesAvailable } from './shared-files.ts';
import { SocketTransportClient } from './socket-client.ts';
import { SocketTransportServer } from './socket-server.ts';
import type { SocketAddressing } from './socket.ts';
import type { ClientOptions, RequestHandler, ServerOptions, TransportClient, TransportServer } from './transport.ts';

/** The name `defaultAddress` gives a socket, which a client's pull server listens on. */
const PULL_SOCKET = /^plume-\d{1,10}-[0-9a-f]{12}\.sock$/;

export const localAddressing: SocketAddressing = {
  mode: 'local',
  defaultAddress: () => join(tmpdir(), `plume-${process.pid}-${randomBytes(6).toString('hex')}.sock`),
  listenOptions: (path) => ({ path }),
  connectOptions: (path) => ({ path }),
  boundAddress: (_server, path) => path,
  pullAddress: () => localAddressing.defaultAddress(),
  // A Unix socket is a path anyone could name: only one named as a pull server names its socket.
  pullRefused: (path) =>
    isAbsolute(path) && normalize(path) === path && PULL_SOCKET.test(basename(path))
      ? undefined
      : `'${path}' is not a pull server's socket (plume-<pid>-<hex>.sock)`,
  sharedFiles: sharedFilesAvailable,
  prepare: () => {},
};

export function createLocalServer(handler: RequestHandler, options?: ServerOptions): TransportServer {
  return new SocketTransportServer(localAddressing, handler, options);
}

export function createLocalClient(options?: ClientOptions): TransportClient {
  return new SocketTransportClient(localAddressing, options);
}

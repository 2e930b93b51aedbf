/**
 * CWASI's `networked` mode: a process on another host, over TCP. Addresses are `host:port` (`[::1]:port`
 * for IPv6); port 0 asks the OS for a free one, and `listen()` reports the port it got.
 */
import type { AddressInfo } from 'node:net';
import { SocketTransportClient } from './socket-client.ts';
import { SocketTransportServer } from './socket-server.ts';
import type { SocketAddressing } from './socket.ts';
import type { ClientOptions, RequestHandler, ServerOptions, TransportClient, TransportServer } from './transport.ts';

export function parseHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new RangeError(`address must be 'host:port' with a port in [0, 65535], got '${address}'`);
  return { host: match[1] ?? match[2]!, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same peer. */
function plainIp(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

export const networkedAddressing: SocketAddressing = {
  mode: 'networked',
  defaultAddress: () => '127.0.0.1:0',
  listenOptions: (address) => parseHostPort(address),
  connectOptions: (address) => parseHostPort(address),
  boundAddress: (server) => {
    const { address, port } = server.address() as AddressInfo;
    return formatHostPort(address, port);
  },
  // The interface this end of the connection uses is one the server can reach; port 0: any free one.
  pullAddress: (socket) => formatHostPort(socket.localAddress ?? '127.0.0.1', 0),
  // The client's own host only: a frame naming another host would make this node a proxy into its network.
  pullRefused: (address, socket) => {
    let host: string;
    try {
      host = parseHostPort(address).host;
    } catch (error) {
      return (error as Error).message;
    }
    const peer = socket.remoteAddress;
    return peer !== undefined && plainIp(host) === plainIp(peer) ? undefined : `${address} is not on the client's host (${peer})`;
  },
  // Nagle's algorithm would hold a small response back for up to 40 ms waiting for the ACK of the last one.
  sharedFiles: false,
  prepare: (socket) => void socket.setNoDelay(true),
};

export function createNetworkedServer(handler: RequestHandler, options?: ServerOptions): TransportServer {
  return new SocketTransportServer(networkedAddressing, handler, options);
}

export function createNetworkedClient(options?: ClientOptions): TransportClient {
  return new SocketTransportClient(networkedAddressing, options);
}

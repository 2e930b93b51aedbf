/**
 * What the trace cases' child processes share: a plain node:http server that reads a request's body and
 * answers with a handler's bytes (500 with the message on a failure), and the `ready PORT` line their
 * parents wait for.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export type Handler = (path: string, body: Uint8Array) => Promise<Uint8Array | string>;

export async function body(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Listens on a free loopback port; resolves with the server and its port. */
export async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    body(req)
      .then((b) => handler(req.url ?? '/', b))
      .then(
        (out) => res.writeHead(200).end(out),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err instanceof Error ? err.message : String(err)),
      );
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

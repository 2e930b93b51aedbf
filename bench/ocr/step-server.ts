/**
 * One function in its own Node process behind HTTP, as container platforms (Knative, OpenFaaS) deploy each
 * step of a chain: `POST /` with `{"in": KEY, "out": KEY}` reads the input from Redis, runs the function on
 * a bare engine (bare-host.ts), writes the output to Redis and answers 204; a failure answers 500 with its
 * message. Started by process-chain.ts with its configuration as the one argument; prints `ready PORT` on
 * stdout once it is compiled, snapshotted, its models are loaded and it listens.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { BareHost } from './bare-host.ts';
import type { StepFunction } from './pipeline.ts';

export interface StepServerConfig {
  readonly name: string;
  readonly fn: StepFunction;
  /** The models this function loads: name → path of the .onnx. */
  readonly models: Readonly<Record<string, string>>;
  readonly redisUrl: string;
  /** Intermediate payloads expire after this long if nobody deletes them. */
  readonly ttlMs: number;
}

const config = JSON.parse(process.argv[2] ?? '') as StepServerConfig;
const host = await BareHost.load({ [config.name]: config.fn }, config.models);
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });

const server = createServer((req, res) => {
  handle(req).then(
    () => res.writeHead(204).end(),
    (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err instanceof Error ? err.message : String(err)),
  );
});

async function handle(req: IncomingMessage): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const { in: inKey, out: outKey } = JSON.parse(Buffer.concat(chunks).toString()) as { in: string; out: string };
  const input = await redis.getBuffer(inKey);
  if (!input) throw new Error(`${config.name}: no payload under '${inKey}'`);
  const output = await host.invoke(config.name, new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
  await redis.set(outKey, Buffer.from(output.buffer, output.byteOffset, output.byteLength), 'PX', config.ttlMs);
}

server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void Promise.allSettled([redis.quit(), host.close()]).then(() => process.exit(0));
});

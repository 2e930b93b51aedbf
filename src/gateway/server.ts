/**
 * The HTTP gateway (`plume up`): a thin Fastify adapter over the runtime (docs/gateway.md). Each request
 * goes auth (onRequest) → body (one parser for every content type) → route → the runtime; every refusal
 * answers `{ "error": { "code", "message" } }` with the status its PlumeError code maps to.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { NodeInfo, PeerLinks } from '../cluster/links.ts';
import type { Registry } from '../cluster/registry.ts';
import type { PeerGuard } from '../cluster/peer.ts';
import { PlumeError } from '../errors.ts';
import { events, type InvocationEvent } from '../events.ts';
import { Admission } from './admission.ts';
import { AsyncCalls, type AsyncCallOptions } from './async-calls.ts';
import { Tokens } from './auth.ts';
import { readBody } from './body.ts';
import { FileStore, fileRoutes } from './files.ts';
import type { FunctionSettings, GatewayContext, GatewayRuntime, RouteConfig } from './context.ts';
import { errorBody, statusOf } from './http-errors.ts';
import { invokeRoutes, serveAsync } from './invoke-routes.ts';
import { peerGuard } from './peer-guard.ts';
import { GatewayMetrics } from './metrics.ts';
import { registryTarget } from './registry-target.ts';
import { systemRoutes } from './system-routes.ts';
import { uiRoutes, type UiOptions } from './ui-routes.ts';

export interface GatewayOptions {
  /** Default 127.0.0.1: a node is reachable from other hosts only when asked to be. */
  readonly host?: string;
  /** Default 8080; 0 picks a free port (tests). */
  readonly port?: number;
  /** Bearer token for `/system/*`; without one those routes are open (a laptop node). */
  readonly adminToken?: string;
  /** Largest request body of any route; default 128 MiB. A function's own maxInputBytes may be lower. */
  readonly maxBodyBytes?: number;
  /** Calls admitted per function beyond its concurrency limit before 429; default 1024. */
  readonly queue?: number;
  /** Where relative paths in an applied workflow spec resolve, and `package:` models are looked for; default the current directory. */
  readonly workflowDir?: string;
  /** Bytes of workflow files (modules, models) kept by content hash; default 1 GiB, least recently used out first. */
  readonly fileStoreBytes?: number;
  readonly async?: AsyncCallOptions;
  /** This node's identity and peer servers (`servePeers`), answered at `GET /system/node` to nodes that link to it. */
  readonly node?: NodeInfo;
  /** The peers this node links to, listed at `GET /system/peers`. */
  readonly peers?: PeerLinks;
  /** The dashboard's sessions and live stream (docs/ui.md); defaults suit a node. */
  readonly ui?: Pick<UiOptions, 'sessions' | 'login' | 'live'>;
  /**
   * The cluster registry (docs/cluster.md, Registry): loaded before the gateway listens, and every deploy,
   * removal and apply goes through it.
   */
  readonly registry?: Registry;
  /** The registry's store may be unreachable at start (`--redis-optional`): serve, and read it once it can be. */
  readonly registryOptional?: boolean;
  /**
   * What `GET /readyz` checks (docs/cluster.md, Readiness): 200 `{ready: true}` when every check returns
   * true, else 503 with each failing check's name and reason. Without checks a listening node is ready.
   */
  readonly readiness?: readonly { readonly name: string; check(): true | string }[];
}

export interface Gateway {
  /** `http://host:port` of the listening node. */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  /** For the node's peer servers: calls over peers meet this gateway's invoke tokens and admission. */
  readonly peerGuard: PeerGuard;
  /** Stop accepting, finish every accepted request and async call (and its callback), then close. */
  close(): Promise<void>;
}

export async function startGateway(plume: GatewayRuntime, options: GatewayOptions = {}): Promise<Gateway> {
  const maxBodyBytes = options.maxBodyBytes ?? 128 * 1024 * 1024;
  const queue = options.queue ?? 1024;
  if (!Number.isInteger(queue) || queue < 0) throw new RangeError(`queue must be an integer ≥ 0, got ${String(queue)}`);
  if (!(maxBodyBytes > 0)) throw new RangeError(`maxBodyBytes must be positive, got ${String(maxBodyBytes)}`);

  const background = new Set<Promise<unknown>>();
  const admission = new Admission();
  const ctx: GatewayContext = {
    plume,
    tokens: new Tokens(options.adminToken),
    admission,
    calls: new AsyncCalls({ ...(options.node ? { node: options.node.node } : {}), ...options.async }),
    settings: new Map<string, FunctionSettings>(),
    files: new FileStore(options.fileStoreBytes),
    queue,
    maxBodyBytes,
    workflowDir: options.workflowDir ?? process.cwd(),
    ...(options.registry ? { registry: options.registry } : {}),
    track(work) {
      const tracked = work.finally(() => background.delete(tracked));
      background.add(tracked);
    },
    refused(name, err) {
      if (events.invocation.hasSubscribers) {
        events.invocation.publish({ function: name, code: err.code, ms: 0, queuedMs: 0, cold: false } satisfies InvocationEvent);
      }
    },
  };
  const metrics = new GatewayMetrics({ stats: () => plume.stats() });

  const app = Fastify({
    logger: false,
    clientErrorHandler,
    // A URL the router cannot decode ('/function/%zz') never reaches the error handler: same shape here.
    frameworkErrors: (err, _request, reply) =>
      void (reply as FastifyReply).code(400).send(errorBody(new PlumeError('PLUME_EINPUT', err.message))),
  });
  configure(app, ctx);
  invokeRoutes(app, ctx);
  serveAsync(ctx);
  systemRoutes(app, ctx);
  fileRoutes(app, ctx);
  uiRoutes(app, ctx, metrics, { ...options.ui, node: options.node, peers: options.peers });
  app.get('/healthz', { config: { guard: 'none' } satisfies RouteConfig }, async () => ({
    status: 'ok',
    functions: plume.list().length,
    workers: plume.workers,
  }));
  app.get('/readyz', { config: { guard: 'none' } satisfies RouteConfig }, async (_request, reply) => {
    const failing = (options.readiness ?? []).flatMap(({ name, check }) => {
      const result = check();
      return result === true ? [] : [{ name, reason: result }];
    });
    return failing.length ? reply.code(503).send({ ready: false, failing }) : { ready: true };
  });
  app.get('/system/node', { config: { guard: 'admin' } satisfies RouteConfig }, async () => {
    if (!options.node) throw new PlumeError('PLUME_ENOROUTE', 'this node serves no peers (it was started without peer servers)');
    return options.node;
  });
  app.get('/system/peers', { config: { guard: 'admin' } satisfies RouteConfig }, async () => options.peers?.peers ?? []);
  app.get('/metrics', { config: { guard: 'none' } satisfies RouteConfig }, async (_request, reply) =>
    reply.header('content-type', metrics.contentType).send(await metrics.text()),
  );

  try {
    // Before listening: a node that answers at all serves everything the registry holds.
    await options.registry?.attach(registryTarget(ctx), { optional: options.registryOptional ?? false });
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
  } catch (err) {
    await ctx.calls.close();
    metrics.close();
    throw err;
  }
  return {
    url: urlOf(app),
    metrics,
    peerGuard: peerGuard(ctx),
    async close() {
      // Node closes the connections idle at this moment; one still answering would then stay open for the
      // whole keep-alive timeout after its answer. From now on each closes once idle (plus Node's 1 s
      // keepAliveTimeoutBuffer, which spares a client racing the close): no per-request hook needed.
      app.server.keepAliveTimeout = 1;
      await app.close();
      // Stop taking queued async calls; the ones this node runs finish (result and callback) first.
      await ctx.calls.close();
      while (background.size) await Promise.allSettled([...background]);
      metrics.close();
    },
  };
}

/** Hooks, the body parser, and the error and not-found answers shared by every route. */
function configure(app: FastifyInstance, ctx: GatewayContext): void {
  const config = (request: FastifyRequest): RouteConfig | undefined => request.routeOptions.config as unknown as RouteConfig | undefined;

  // Hooks take callbacks, not async functions: they run on every request, and a promise per hook shows.
  app.addHook('onRequest', (request, _reply, done) => {
    const guard = config(request)?.guard;
    try {
      if (guard) ctx.tokens.check(guard, (request.params as { name?: string } | undefined)?.name, request.headers);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage) => {
    const limit = config(request)?.limit?.(request) ?? { bytes: ctx.maxBodyBytes, owner: 'the gateway' };
    return readBody(payload, request.headers, limit);
  });

  app.setErrorHandler((err: FastifyError | PlumeError, _request, reply) => {
    if (err instanceof PlumeError && (err.code === 'PLUME_EBUSY' || err.code === 'PLUME_ESTATE_UNAVAILABLE')) {
      reply.header('retry-after', String(err.details['retryAfterS'] ?? 1));
    }
    if (err instanceof PlumeError && err.code === 'PLUME_EAUTH') reply.header('www-authenticate', 'Bearer');
    // Fastify's own errors (a bad URL, an unreadable body) carry their status; they are the client's.
    if (!(err instanceof PlumeError) && 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: { code: 'PLUME_EINPUT', message: err.message } });
    }
    return reply.code(statusOf(err)).send(errorBody(err));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(new PlumeError('PLUME_ENOROUTE', `no route ${request.method} ${request.url.split('?')[0]}`))),
  );
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (a Content-Length that is not a number,
 * two conflicting lengths, an oversized header block) get the same JSON error shape as everything else.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, message] = PARSER_ERRORS[err.code ?? ''] ?? [400, `malformed HTTP request (${err.code ?? 'unknown'}): ${err.message}`];
  const body = JSON.stringify({ error: { code: 'PLUME_EHEADER', message } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

const PARSER_ERRORS: Record<string, [number, string]> = {
  HPE_INVALID_CONTENT_LENGTH: [400, 'Content-Length must be one byte count (digits only, no conflicting values)'],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'a request may not have both Content-Length and Transfer-Encoding: chunked'],
  HPE_INVALID_TRANSFER_ENCODING: [400, 'Transfer-Encoding must end with chunked'],
  HPE_INVALID_HEADER_TOKEN: [400, 'a header name or value contains a character HTTP does not allow'],
  HPE_HEADER_OVERFLOW: [431, 'the request headers are larger than the node accepts'],
};

function urlOf(app: FastifyInstance): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the gateway is not listening on TCP');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

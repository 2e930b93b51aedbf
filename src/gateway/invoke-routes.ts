/**
 * Invocation routes: `POST /function/:name` (sync), `POST /async-function/:name` (202 + X-Call-Id, optional
 * X-Callback-Url; async-calls.ts), `GET /async-function/:name/:callId` (the result), `POST /workflow/:name` (a workflow run).
 */
import type { FastifyInstance, FastifyRequest, preParsingHookHandler } from 'fastify';
import { PlumeError } from '../errors.ts';
import type { FunctionInfo } from '../runtime.ts';
import { cappedLimit, type BodyLimit } from './body.ts';
import { concurrencyOf } from '../engine/definition.ts';
import type { GatewayContext, NameParams, RouteConfig } from './context.ts';
import { clientOf } from './peer-guard.ts';
import { Headers } from './protocol.ts';

const EMPTY = new Uint8Array(0);
const OCTETS = 'application/octet-stream';

export function invokeRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const fn: RouteConfig = { guard: 'function', limit: (request) => functionLimit(ctx, request) };
  const preParsing = findOnPeers(ctx);

  app.post<NameParams>('/function/:name', { config: fn, preParsing }, async (request, reply) => {
    const { name } = request.params;
    admitFunction(ctx, name);
    const output = await run(ctx, name, () => ctx.plume.invoke(name, body(request), { client: clientOf(request.headers) }));
    return reply.header('content-type', ctx.settings.get(name)?.contentType ?? OCTETS).send(bytes(output));
  });

  app.post<NameParams>('/async-function/:name', { config: fn, preParsing }, async (request, reply) => {
    const { name } = request.params;
    const callbackUrl = await ctx.calls.checkCallback(request.headers[Headers.callbackUrl]);
    const input = body(request);
    // In memory the call runs here, so it takes its place at this node's door now (429 when full); a
    // durable call is admitted by whichever node runs it, and the queue's backlog bound refuses here.
    if (!ctx.calls.durable) admitFunction(ctx, name);
    let id: string;
    try {
      id = await ctx.calls.accept(name, input, callbackUrl);
    } catch (err) {
      if (!ctx.calls.durable) ctx.admission.release(name, 0);
      throw err;
    }
    return reply
      .code(202)
      .header(Headers.callId, id)
      .send({ callId: id, status: 'pending', result: `/async-function/${name}/${id}` });
  });

  app.get<{ Params: { name: string; callId: string } }>('/async-function/:name/:callId', { config: fn }, async (request, reply) => {
    const { name, callId } = request.params;
    const call = await ctx.calls.get(callId);
    if (!call || call.function !== name) {
      throw new PlumeError('PLUME_ENOCALL', `no asynchronous call '${callId}' of function '${name}' (unknown, or its result expired)`);
    }
    const finished = call.state === 'done' || call.state === 'failed';
    reply.header(Headers.callId, call.id).header(Headers.callStatus, finished ? call.state : 'pending');
    reply.header(Headers.callRuns, String(call.runs));
    if (!finished) return reply.code(202).send({ callId: call.id, status: 'pending' });
    if (call.node) reply.header(Headers.callNode, call.node);
    if (call.error) return reply.code(call.status).send({ error: call.error });
    return reply.header('content-type', ctx.settings.get(name)?.contentType ?? OCTETS).send(bytes(call.output!));
  });

  app.post<NameParams & { Querystring: { trace?: string } }>(
    '/workflow/:name',
    { config: { guard: 'workflow' } satisfies RouteConfig },
    async (request, reply) => {
      const { name } = request.params;
      const trace = wantsTrace(request.query.trace, request.headers[Headers.trace]);
      // A workflow has no concurrency limit of its own (its steps have theirs): its door admits `queue` runs in all.
      const door = `workflow:${name}`;
      ctx.admission.admit(door, ctx.queue, 0, `workflow '${name}'`);
      const done = await run(ctx, door, () => ctx.plume.runWorkflow(name, body(request), { trace }));
      if (!trace) return reply.header('content-type', OCTETS).send(bytes(done.output));
      return reply.send({ output: bytes(done.output).toString('base64'), trace: done.trace });
    },
  );
}

/**
 * Run the durable async calls the queue hands this node. Such a call was admitted nowhere yet: it waits
 * here (holding its place in the queue) until the function's door has room.
 */
export function serveAsync(ctx: GatewayContext): void {
  ctx.calls.serve({
    workers: ctx.plume.workers,
    busy: () => ctx.admission.total(),
    track: (work) => ctx.track(work),
    execute: async (job, admitted) => {
      if (!admitted) await admitWhenRoom(ctx, job.function);
      return run(ctx, job.function, () => ctx.plume.invoke(job.function, job.input));
    },
  });
}

async function admitWhenRoom(ctx: GatewayContext, name: string): Promise<void> {
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    const door = doorOf(ctx, name, ctx.plume.describe(name));
    if (!ctx.admission.full(name, door.concurrency, door.queue)) {
      ctx.admission.admit(name, door.concurrency, door.queue);
      return;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** A function's body limit: its own maxInputBytes, capped by the gateway's; an unknown function is 404 before any byte is read. */
function functionLimit(ctx: GatewayContext, request: FastifyRequest): BodyLimit {
  const name = (request.params as { name: string }).name;
  const onPeer = ctx.plume.peerInputLimit(name);
  if (onPeer !== undefined) return cappedLimit(ctx.maxBodyBytes, onPeer, `function '${name}'`);
  const info = ctx.plume.describe(name);
  // Refusing an overloaded function here spares reading a body that would be refused anyway; a function
  // with room is admitted only by its route, so this checks the door without taking a place.
  const door = doorOf(ctx, name, info);
  if (ctx.admission.full(name, door.concurrency, door.queue)) admitFunction(ctx, name, door);
  return cappedLimit(ctx.maxBodyBytes, info.limits.maxInputBytes, `function '${name}'`);
}

interface FunctionDoor {
  readonly concurrency: number;
  readonly queue: number;
}

/** How many calls of a function run at once (one for a stateful function), and how many more may wait. */
function doorOf(ctx: GatewayContext, name: string, info: FunctionInfo): FunctionDoor {
  return { concurrency: concurrencyOf(info), queue: ctx.settings.get(name)?.queue ?? ctx.queue };
}

/** A function only a peer serves is admitted by that peer (docs/cluster.md): no door of its own here. */
const PEER_DOOR: FunctionDoor = { concurrency: Number.MAX_SAFE_INTEGER, queue: 0 };

function doorFor(ctx: GatewayContext, name: string): FunctionDoor {
  return ctx.plume.peerInputLimit(name) === undefined ? doorOf(ctx, name, ctx.plume.describe(name)) : PEER_DOOR;
}

/**
 * Before the body is read: a name neither deployed here nor in the peers' catalog makes the peers be
 * asked again (it may have been deployed on one a moment ago), so its body limit and door are known.
 */
function findOnPeers(ctx: GatewayContext): preParsingHookHandler {
  return (request, _reply, payload, done) => {
    const name = (request.params as { name: string }).name;
    if (ctx.plume.deployedHere(name) || ctx.plume.peerInputLimit(name) !== undefined) return done(null, payload);
    ctx.plume.reachable(name).then(
      () => done(null, payload),
      () => done(null, payload), // unreachable peers: the route refuses the name as unknown
    );
  };
}

/** Take a place at the function's door (`door` when the caller has it), or throw PLUME_EBUSY (429), counted as a refused invocation. */
export function admitFunction(ctx: GatewayContext, name: string, door = doorFor(ctx, name)): void {
  const { concurrency, queue } = door;
  try {
    ctx.admission.admit(name, concurrency, queue);
  } catch (err) {
    if (err instanceof PlumeError) ctx.refused(name, err);
    throw err;
  }
}

/** Run `work` holding a place at the door `key`, released when it settles. */
export async function run<T>(ctx: GatewayContext, key: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    ctx.admission.release(key, performance.now() - started);
  }
}

function body(request: FastifyRequest): Uint8Array {
  return (request.body as Uint8Array | undefined) ?? EMPTY;
}

/** A Buffer view of the bytes (no copy): what Fastify sends as a raw body. */
export function bytes(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function wantsTrace(query: string | undefined, header: string | string[] | undefined): boolean {
  const value = query ?? (Array.isArray(header) ? header[0] : header);
  return value !== undefined && value !== '0' && value !== 'false';
}

/**
 * Management routes under `/system` (admin token when the node has one): functions, their logs,
 * workflows and models. A deploy carries the module's bytes as its body and its options in the query
 * string (docs/gateway.md), so no multipart or base64 is involved.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeployOptions } from '../engine/compile.ts';
import { MAX_MODULE_BYTES } from '../engine/compile.ts';
import { sha256Hex } from '../cluster/registry-store.ts';
import { PlumeError } from '../errors.ts';
import type { FunctionInfo } from '../runtime.ts';
import { tokenDigest } from './auth.ts';
import { cappedLimit } from './body.ts';
import type { GatewayContext, NameParams, RouteConfig } from './context.ts';
import { readBundle } from './files.ts';
import { errorBody } from './http-errors.ts';
import { BUNDLE_TYPE, Headers, parseEnvPairs } from './protocol.ts';
import {
  deployHere,
  functionChange,
  notFound,
  removeThroughRegistry,
  throughRegistry,
  workflowChange,
  type FunctionFields,
} from './registry-target.ts';

interface DeployQuery {
  memory?: string;
  timeout?: string;
  entry?: string;
  env?: string | string[];
  stateful?: string;
  concurrency?: string;
  queue?: string;
  contentType?: string;
}

const decoder = new TextDecoder();

export function systemRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const admin: RouteConfig = { guard: 'admin' };
  const moduleLimit = cappedLimit(ctx.maxBodyBytes, MAX_MODULE_BYTES, 'a module');
  const moduleUpload: RouteConfig = { guard: 'admin', limit: () => moduleLimit };
  const describe = (info: FunctionInfo): object => ({
    ...info,
    contentType: ctx.settings.get(info.name)?.contentType ?? 'application/octet-stream',
    protected: ctx.tokens.isProtected('function', info.name),
    outstanding: ctx.admission.outstanding(info.name),
  });

  // Async calls (plume async ls): recent calls without their bytes, and the dead letters of callbacks.
  app.get<{ Querystring: { limit?: string } }>('/system/async', { config: admin }, async (request) => ({
    durable: ctx.calls.durable,
    calls: await ctx.calls.recent(listLimit(request.query.limit)),
  }));
  app.get<{ Querystring: { limit?: string } }>('/system/async/failed', { config: admin }, async (request) => ({
    failed: await ctx.calls.failed(listLimit(request.query.limit)),
  }));

  app.get('/system/functions', { config: admin }, async () => ctx.plume.list().map(describe));
  app.get<NameParams>('/system/functions/:name', { config: admin }, async (request) => describe(ctx.plume.describe(request.params.name)));

  const deploy = async (request: FastifyRequest<NameParams & { Querystring: DeployQuery }>, reply: FastifyReply) => {
    const { name } = request.params;
    const module = request.body as Uint8Array | undefined;
    if (!module?.length)
      throw new PlumeError('PLUME_EMODULE', `deploy of '${name}' has an empty body: send the .wasm bytes as the request body`);
    const q = request.query;
    const options = deployOptions(q);
    const settings = { contentType: one(q.contentType), queue: q.queue === undefined ? undefined : count('queue', one(q.queue)!) };
    const token = invokeToken(request);
    // The registry keeps the token's digest, never the token: every node enforces it (docs/cluster.md).
    const fields: FunctionFields = { sha256: sha256Hex(module), options, settings, invokeDigest: token && tokenDigest(token) };
    const info = await throughRegistry(
      ctx,
      'function',
      () => deployHere(ctx, name, module, fields),
      async () => functionChange(name, module, fields),
    );
    return reply.code(201).send(describe(info));
  };
  app.put<NameParams & { Querystring: DeployQuery }>('/system/functions/:name', { config: moduleUpload }, deploy);
  app.post<NameParams & { Querystring: DeployQuery }>('/system/functions/:name', { config: moduleUpload }, deploy);

  app.delete<NameParams>('/system/functions/:name', { config: admin }, async (request) => {
    const { name } = request.params;
    if (!(await removeThroughRegistry(ctx, 'function', name))) throw notFound('function', name);
    return { removed: name };
  });

  app.get<NameParams & { Querystring: { tail?: string } }>('/system/functions/:name/logs', { config: admin }, async (request) => {
    const logs = ctx.plume.logs(request.params.name);
    const tail = request.query.tail === undefined ? logs.length : count('tail', request.query.tail);
    return { logs: logs.slice(Math.max(0, logs.length - tail)) };
  });

  app.post('/system/workflows', { config: admin }, async (request, reply) => {
    const body = request.body as Uint8Array | undefined;
    if (!body?.length) throw new PlumeError('PLUME_ESPEC', 'the request body is empty: send the workflow spec (YAML or JSON)');
    const bundle = request.headers['content-type']?.startsWith(BUNDLE_TYPE) ? readBundle(ctx, decoder.decode(body)) : undefined;
    const spec = bundle?.spec ?? decoder.decode(body);
    const token = invokeToken(request);
    const digest = token && tokenDigest(token);
    const info = await throughRegistry(
      ctx,
      'workflow',
      async () => {
        const applied = await ctx.plume.applyWorkflow(
          spec,
          bundle ? { files: bundle.files, packageDirs: [ctx.workflowDir] } : { baseDir: ctx.workflowDir },
        );
        ctx.tokens.setInvokeDigest('workflow', applied.name, digest);
        return applied;
      },
      () => workflowChange(ctx, spec, bundle?.files, digest),
    );
    return reply.code(201).send(info);
  });
  app.get('/system/workflows', { config: admin }, async () => ctx.plume.workflows());
  app.get<NameParams>('/system/workflows/:name', { config: admin }, async (request) => findWorkflow(ctx, request.params.name));
  app.delete<NameParams>('/system/workflows/:name', { config: admin }, async (request) => {
    const { name } = request.params;
    if (!(await removeThroughRegistry(ctx, 'workflow', name))) throw notFound('workflow', name);
    return { removed: name };
  });

  const addModel = async (request: FastifyRequest<NameParams>, reply: FastifyReply) => {
    const model = request.body as Uint8Array | undefined;
    if (!model?.length)
      throw new PlumeError('PLUME_EMODEL', `model '${request.params.name}' has an empty body: send the .onnx bytes as the request body`);
    const { name } = request.params;
    const sha256 = sha256Hex(model);
    const info = await throughRegistry(
      ctx,
      'model',
      () => ctx.plume.addModel(name, model),
      async () => ({ name, fields: { sha256 }, files: new Map([[sha256, model]]) }),
    );
    return reply.code(201).send(info);
  };
  app.put<NameParams>('/system/models/:name', { config: admin }, addModel);
  app.post<NameParams>('/system/models/:name', { config: admin }, addModel);
  app.delete<NameParams>('/system/models/:name', { config: admin }, async (request, reply) => {
    const { name } = request.params;
    if (!(await removeThroughRegistry(ctx, 'model', name))) return reply.code(404).send(errorBody(notFound('model', name)));
    return { removed: name };
  });
  app.get('/system/models', { config: admin }, async () => ctx.plume.models());
}

function findWorkflow(ctx: GatewayContext, name: string): object {
  const info = ctx.plume.workflows().find((w) => w.name === name);
  if (!info) throw new PlumeError('PLUME_ENOWORKFLOW', `no workflow named '${name}' is applied`, { workflow: name });
  return { ...info, protected: ctx.tokens.isProtected('workflow', name) };
}

function deployOptions(q: DeployQuery): DeployOptions {
  const env = parseEnvPairs(q.env === undefined ? [] : [q.env].flat(), "query 'env'");
  const limits = {
    ...(q.memory === undefined ? {} : { memoryMb: positive('memory', one(q.memory)!) }),
    ...(q.timeout === undefined ? {} : { timeoutMs: positive('timeout', one(q.timeout)!) }),
    ...(q.concurrency === undefined ? {} : { maxConcurrency: count('concurrency', one(q.concurrency)!, 1) }),
  };
  const stateful = one(q.stateful);
  if (stateful !== undefined && !['true', 'false', '1', '0', ''].includes(stateful)) {
    throw new TypeError(`query 'stateful' must be true or false, got '${stateful}'`);
  }
  return {
    env,
    limits,
    ...(q.entry === undefined ? {} : { entry: one(q.entry)! }),
    ...(stateful === undefined ? {} : { stateful: stateful === 'true' || stateful === '1' || stateful === '' }),
  };
}

/** The invoke token given at deploy or apply (X-Plume-Invoke-Token), if any. */
function invokeToken(request: FastifyRequest): string | undefined {
  const header = request.headers[Headers.invokeToken];
  const token = Array.isArray(header) ? header[0] : header;
  if (token === '') throw new PlumeError('PLUME_EHEADER', 'X-Plume-Invoke-Token must not be empty');
  return token;
}

/** A repeated query parameter arrives as an array; options that take one value use its last. */
function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.at(-1) : value;
}

function positive(option: string, value: string): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n <= 0) throw new RangeError(`query '${option}' must be a positive number, got '${value}'`);
  return n;
}

function count(option: string, value: string, min = 0): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new RangeError(`query '${option}' must be an integer ≥ ${min}, got '${value}'`);
  return n;
}

/** `?limit=` of a listing: 1-1000, default 100. */
function listLimit(value: string | undefined): number {
  if (value === undefined) return 100;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000)
    throw new PlumeError('PLUME_EINPUT', `limit must be an integer from 1 to 1000, got '${value}'`);
  return n;
}

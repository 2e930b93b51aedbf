/**
 * What every route of the gateway shares: the runtime it adapts, tokens, admission, async results, and the
 * per-function settings the gateway keeps beside the runtime's own (response type, queue bound).
 */
import type { FastifyRequest } from 'fastify';
import type { Registry } from '../cluster/registry.ts';
import type { PlumeError } from '../errors.ts';
import type { Plume } from '../runtime.ts';
import type { AsyncCalls } from './async-calls.ts';
import type { Admission } from './admission.ts';
import type { Guard, Tokens } from './auth.ts';
import type { BodyLimit } from './body.ts';
import type { FileStore } from './files.ts';

/** The runtime the gateway serves. */
export type GatewayRuntime = Plume;

export interface FunctionSettings {
  /** Content-Type of the function's responses; default application/octet-stream. */
  readonly contentType: string | undefined;
  /** Calls admitted beyond its concurrency limit before 429; default the gateway's `queue`. */
  readonly queue: number | undefined;
}

export interface GatewayContext {
  readonly plume: GatewayRuntime;
  readonly tokens: Tokens;
  readonly admission: Admission;
  readonly calls: AsyncCalls;
  readonly settings: Map<string, FunctionSettings>;
  /** Modules and models sent for workflow specs, by content hash. */
  readonly files: FileStore;
  /** Default per-function queue bound. */
  readonly queue: number;
  /** Largest body any route accepts. */
  readonly maxBodyBytes: number;
  /** Where relative module and model paths of an applied workflow spec are resolved. */
  readonly workflowDir: string;
  /** The cluster registry deploys, removals and applies go through, when the node has one (docs/cluster.md). */
  readonly registry?: Registry;
  /** Keep the node open until this background work (an async call, its callback) has finished. */
  track(work: Promise<unknown>): void;
  /** Publish the refusal of an overloaded call as a finished invocation (so metrics count it). */
  refused(name: string, err: PlumeError): void;
}

/** Per-route settings, read by the auth hook and the body parser. */
export interface RouteConfig {
  readonly guard: Guard;
  /** The body limit of this route; default the gateway's maxBodyBytes. May throw (an unknown function: 404 before reading). */
  readonly limit?: (request: FastifyRequest) => BodyLimit;
}

export type NameParams = { Params: { name: string } };

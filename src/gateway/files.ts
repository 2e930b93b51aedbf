/**
 * The files workflow specs name (modules, models), kept on the node by content hash, and the bundle that
 * applies a spec with them (docs/gateway.md, Workflow files). `plume workflow apply` asks which of its
 * files the node lacks (`GET /system/files/:sha256`), sends only those (`PUT`), then posts the spec with
 * each relative path mapped to its hash: applying a spec again sends no file bytes, and a 10 MB model is
 * sent once whatever spec names it. With a registry, an applied spec's files are recorded with it there
 * (docs/cluster.md), so the other nodes need not be sent them.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PlumeError } from '../errors.ts';
import type { GatewayContext, RouteConfig } from './context.ts';

const SHA256 = /^[0-9a-f]{64}$/;

/** Bytes kept before the least recently used files go; a client sends an evicted file again on its next apply. */
export const DEFAULT_FILE_STORE_BYTES = 1024 * 1024 * 1024;

export interface StoredFile {
  readonly sha256: string;
  readonly bytes: number;
}

/** Content hash → bytes, least recently used first (a Map keeps insertion order; a use re-inserts). */
export class FileStore {
  readonly #files = new Map<string, Uint8Array>();
  readonly #maxBytes: number;
  #bytes = 0;
  /** Every file body accepted by `put` (a file sent twice counts twice): what clients have sent. */
  readonly received = { files: 0, bytes: 0 };

  constructor(maxBytes = DEFAULT_FILE_STORE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  has(sha256: string): boolean {
    return this.#files.has(sha256);
  }

  get(sha256: string): Uint8Array | undefined {
    const file = this.#files.get(sha256);
    if (file) {
      this.#files.delete(sha256);
      this.#files.set(sha256, file);
    }
    return file;
  }

  /** Stores `bytes` under `sha256` after checking that it is their hash (PLUME_EINPUT otherwise). */
  put(sha256: string, bytes: Uint8Array): StoredFile {
    checkHash(sha256);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) {
      throw new PlumeError('PLUME_EINPUT', `file body has sha256 ${actual}, not the ${sha256} its URL names (a truncated upload?)`);
    }
    this.received.files++;
    this.received.bytes += bytes.length;
    if (!this.#files.has(sha256)) this.#bytes += bytes.length;
    this.#files.delete(sha256);
    this.#files.set(sha256, bytes);
    // The newest file stays even if it alone is over the limit: the apply it came for needs it.
    for (const [hash, file] of this.#files) {
      if (this.#bytes <= this.#maxBytes || hash === sha256) break;
      this.#files.delete(hash);
      this.#bytes -= file.length;
    }
    return { sha256, bytes: bytes.length };
  }

  list(): StoredFile[] {
    return [...this.#files].map(([sha256, file]) => ({ sha256, bytes: file.length }));
  }

  get bytes(): number {
    return this.#bytes;
  }
}

function checkHash(sha256: string): void {
  if (!SHA256.test(sha256)) throw new PlumeError('PLUME_EINPUT', `'${sha256}' is not a sha256 (64 lower-case hex digits)`);
}

export function fileRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const admin: RouteConfig = { guard: 'admin' };
  app.get('/system/files', { config: admin }, async () => ({
    files: ctx.files.list(),
    bytes: ctx.files.bytes,
    received: ctx.files.received,
  }));
  app.get<{ Params: { sha256: string } }>('/system/files/:sha256', { config: admin }, async (request) => {
    const { sha256 } = request.params;
    checkHash(sha256);
    const file = ctx.files.get(sha256);
    if (!file) throw new PlumeError('PLUME_ENOROUTE', `no file with sha256 ${sha256} is on this node`);
    return { sha256, bytes: file.length } satisfies StoredFile;
  });
  app.put<{ Params: { sha256: string } }>('/system/files/:sha256', { config: admin }, async (request, reply) => {
    const body = (request.body as Uint8Array | undefined) ?? new Uint8Array(0);
    return reply.code(201).send(ctx.files.put(request.params.sha256, body));
  });
}

/**
 * Reads a bundle (`plume workflow apply` sends one, as BUNDLE_TYPE): `{ spec, files }`, where `files` maps
 * each relative module or model path of the spec, as the spec writes it, to `{ "sha256": hex }` of a file
 * on the node (or, from older clients, to its bytes in base64). The node reads no relative path from its
 * own disk for a bundle; `package:` models are found from its working directory (`workflowDir`).
 */
export function readBundle(ctx: GatewayContext, text: string): { spec: string; files: Map<string, Uint8Array> } {
  let bundle: { spec?: unknown; files?: unknown };
  try {
    bundle = JSON.parse(text) as typeof bundle;
  } catch (err) {
    throw new PlumeError('PLUME_ESPEC', `workflow bundle is not JSON: ${(err as Error).message}`);
  }
  const { spec, files = {} } = bundle;
  if (typeof spec !== 'string' || typeof files !== 'object' || files === null) {
    throw new PlumeError('PLUME_ESPEC', 'workflow bundle must be { "spec": string, "files": { path: { "sha256": hex } } }');
  }
  const contents = new Map<string, Uint8Array>();
  for (const [path, entry] of Object.entries(files)) contents.set(path, bundledFile(ctx, path, entry));
  return { spec, files: contents };
}

function bundledFile(ctx: GatewayContext, path: string, entry: unknown): Uint8Array {
  if (typeof entry === 'string') return Buffer.from(entry, 'base64');
  const sha256 = (entry as { sha256?: unknown } | null)?.sha256;
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
    throw new PlumeError('PLUME_ESPEC', `workflow bundle: file '${path}' must be { "sha256": "<64 hex digits>" }`);
  }
  const file = ctx.files.get(sha256);
  if (!file) {
    throw new PlumeError(
      'PLUME_ESPEC',
      `workflow bundle: file '${path}' (sha256 ${sha256}) is not on the node: PUT it to /system/files/${sha256} first`,
    );
  }
  return file;
}

/**
 * The registry in Redis, shared by every node (docs/cluster.md, Registry). Keys:
 * `plume:cluster:functions` / `:workflows` / `:models` (hashes: name → JSON entry), `plume:cluster:versions`
 * (hash: `<kind>:<name>` → last version, kept after a delete so versions only grow), and
 * `plume:cluster:module:<sha256>` (the bytes of a module, workflow file or model). Every change is
 * published on `plume:cluster:registry` as `{ kind, name, version? }`; a node reads the entry again on it.
 *
 * A write is one Lua script: it checks that the files the entry names are there, bumps the version,
 * writes the entry, deletes the files no entry names any more and publishes, all at once, so a file
 * collected by another node's delete can never be left named by a new entry. (The file keys are computed
 * in the script: a single Redis or a replicated one, not Redis Cluster.)
 */
import { Redis } from 'ioredis';
import { PlumeError } from '../errors.ts';
import { failFastRedisOptions } from '../state/index.ts';
import { entryText, type EntryKind, type RegistryStore, type StoreListener } from './registry-store.ts';

export const REGISTRY_CHANNEL = 'plume:cluster:registry';
const PREFIX = 'plume:cluster:';
const FILE_PREFIX = `${PREFIX}module:`;
const VERSIONS = `${PREFIX}versions`;
const HASHES: Record<EntryKind, string> = {
  function: `${PREFIX}functions`,
  workflow: `${PREFIX}workflows`,
  model: `${PREFIX}models`,
};

/** Deletes each 64-hex-digit file the old entry named unless some entry's text still names it (KEYS[3..5]: the three hashes). */
const COLLECT = `
local function referenced(sha)
  for k = 3, 5 do
    for _, e in ipairs(redis.call('HVALS', KEYS[k])) do
      if string.find(e, sha, 1, true) then return true end
    end
  end
  return false
end
local function collect(old)
  for sha in string.gmatch(old, '%x+') do
    if #sha == 64 and not referenced(sha) then redis.call('DEL', ARGV[6] .. sha) end
  end
end
`;

/** KEYS: entries hash, versions, the three hashes, then the file keys. ARGV: name, version field, fields after '{', kind, channel, file prefix. */
const PUT = `${COLLECT}
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return redis.error_reply('PLUME_MISSING ' .. KEYS[i]) end
end
local old = redis.call('HGET', KEYS[1], ARGV[1])
local v = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local text = '{"version":' .. v .. '}'
if ARGV[3] ~= '}' then text = '{"version":' .. v .. ',' .. ARGV[3] end
redis.call('HSET', KEYS[1], ARGV[1], text)
if old then collect(old) end
redis.call('PUBLISH', ARGV[5], '{"kind":"' .. ARGV[4] .. '","name":"' .. ARGV[1] .. '","version":' .. v .. '}')
return v
`;

const DELETE = `${COLLECT}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
collect(old)
redis.call('PUBLISH', ARGV[5], '{"kind":"' .. ARGV[4] .. '","name":"' .. ARGV[1] .. '"}')
return 1
`;

type Client = Redis & {
  registryPut(...args: (string | number)[]): Promise<number>;
  registryDelete(...args: (string | number)[]): Promise<number>;
};

export interface RedisRegistryOptions {
  readonly url: string;
  /** How long connecting or one command may take; default 5,000 ms. */
  readonly timeoutMs?: number;
}

export class RedisRegistryStore implements RegistryStore {
  readonly where: string;
  readonly #client: Client;
  #subscriber: Redis | undefined;
  #closed = false;
  #optional = false;

  constructor(options: RedisRegistryOptions) {
    this.where = redact(options.url);
    const timeoutMs = options.timeoutMs ?? 5000;
    // While Redis is away a deploy fails at once (503) instead of waiting in a queue nobody sees.
    this.#client = new Redis(options.url, failFastRedisOptions(timeoutMs)) as Client;
    // Errors surface through the commands that fail; without a listener ioredis prints each one.
    this.#client.on('error', () => {});
    this.#client.defineCommand('registryPut', { lua: PUT });
    this.#client.defineCommand('registryDelete', { lua: DELETE });
  }

  /**
   * Connects, or fails with PLUME_ESTATE_UNAVAILABLE naming the URL (a node must not start without its
   * registry). `optional` (`--redis-optional`): never fails; the connection keeps trying in the background
   * and the registry reads itself once it is up (Registry#attach with `optional`).
   */
  async connect(options: { optional?: boolean } = {}): Promise<void> {
    if (options.optional) {
      this.#optional = true;
      this.#client.connect().catch(() => {});
      return;
    }
    try {
      await this.#client.connect();
      await this.#client.ping();
    } catch (err) {
      this.#client.disconnect();
      throw this.#unavailable(err);
    }
  }

  async entries(kind: EntryKind): Promise<Map<string, string>> {
    const all = await this.#run(() => this.#client.hgetall(HASHES[kind]));
    return new Map(Object.entries(all));
  }

  async entry(kind: EntryKind, name: string): Promise<string | undefined> {
    return (await this.#run(() => this.#client.hget(HASHES[kind], name))) ?? undefined;
  }

  async file(sha256: string): Promise<Uint8Array | undefined> {
    const bytes = await this.#run(() => this.#client.getBuffer(FILE_PREFIX + sha256));
    return bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  }

  async put(kind: EntryKind, name: string, fields: Record<string, unknown>, files: ReadonlyMap<string, Uint8Array>): Promise<number> {
    const rest = entryText(0, fields).slice('{"version":0'.length).replace(/^,/, '');
    const shas = [...files.keys()];
    const keys = [HASHES[kind], VERSIONS, HASHES.function, HASHES.workflow, HASHES.model, ...shas.map((s) => FILE_PREFIX + s)];
    // A file may be collected between the upload and the script (another node's delete): upload again then.
    for (let attempt = 0; ; attempt++) {
      await this.#upload(files);
      try {
        return await this.#run(() =>
          this.#client.registryPut(keys.length, ...keys, name, `${kind}:${name}`, rest, kind, REGISTRY_CHANNEL, FILE_PREFIX),
        );
      } catch (err) {
        if (attempt < 2 && err instanceof PlumeError && /PLUME_MISSING/.test(err.message)) continue;
        throw err;
      }
    }
  }

  async delete(kind: EntryKind, name: string): Promise<boolean> {
    const keys = [HASHES[kind], VERSIONS, HASHES.function, HASHES.workflow, HASHES.model];
    const n = await this.#run(() => this.#client.registryDelete(keys.length, ...keys, name, '', '', kind, REGISTRY_CHANNEL, FILE_PREFIX));
    return n === 1;
  }

  async watch(listener: StoreListener): Promise<void> {
    // Its own connection: a subscribed client can send nothing else. It may queue: SUBSCRIBE is sent again on reconnect.
    // No command timeout: SUBSCRIBE waits for Redis (with --redis-optional, Redis may not be there yet).
    // Not `commandTimeout: 0`: ioredis arms a timer for any number, and a 0 ms one fails SUBSCRIBE whenever
    // Redis's answer is not back before the next turn of the event loop (a loaded machine).
    const subscriber = this.#client.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.#subscriber = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, text: string) => {
      let message: { kind?: unknown; name?: unknown };
      try {
        message = JSON.parse(text) as typeof message;
      } catch {
        return listener.resync();
      }
      const { kind, name } = message;
      if ((kind === 'function' || kind === 'workflow' || kind === 'model') && typeof name === 'string') listener.changed(kind, name);
      else listener.resync();
    });
    const subscribed = subscriber.subscribe(REGISTRY_CHANNEL);
    if (this.#optional) subscribed.catch(() => {});
    else await subscribed;
    // Every later 'ready' follows a lost connection (or, optional, a Redis that was not there at start).
    subscriber.on('ready', () => listener.resync());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.disconnect();
    this.#subscriber?.disconnect();
  }

  /**
   * Sends every file, even one already there: the bytes under a hash in Redis are not known to be right
   * until read and hashed (readers refuse them when they are not), and a deploy must heal them, not
   * keep pointing at them.
   */
  async #upload(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (const [sha, bytes] of files) {
      await this.#run(() => this.#client.set(FILE_PREFIX + sha, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
    }
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new PlumeError('PLUME_ECLOSED', 'the registry is closed');
    try {
      return await command();
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  #unavailable(err: unknown): PlumeError {
    if (err instanceof PlumeError) return err;
    let message = (err as Error)?.message ?? String(err);
    // ioredis's words for a command refused while it reconnects.
    if (/Stream isn't writeable|Connection is closed/.test(message)) message = 'the connection is down';
    return new PlumeError('PLUME_ESTATE_UNAVAILABLE', `the registry in Redis at ${this.where} cannot be reached: ${message}`);
  }
}

/** The URL without its password, for messages and logs. */
function redact(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

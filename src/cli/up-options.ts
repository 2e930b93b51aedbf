/**
 * What `plume up` makes of its options before anything starts: the cluster secret, the registry's store,
 * the async calls' settings.
 */
import { join } from 'node:path';
import { DataDirStore, defaultDataDir } from '../cluster/data-dir.ts';
import { Registry } from '../cluster/registry.ts';
import { RedisRegistryStore } from '../cluster/registry-redis.ts';
import { secretKey } from '../data/transport/handshake.ts';
import { PlumeError } from '../errors.ts';
import type { AsyncCallOptions } from '../gateway/index.ts';
import type { UpOptions } from './up.ts';

/**
 * The cluster secret, checked before anything starts: at least 16 bytes, and required when the peer TCP
 * server listens where other hosts reach it (docs/dataplane.md, Peer security).
 */
export function clusterSecret(opts: Pick<UpOptions, 'host' | 'clusterSecret'>): string | undefined {
  const secret = opts.clusterSecret ?? (process.env['PLUME_CLUSTER_SECRET'] || undefined);
  if (secret !== undefined) {
    secretKey(secret);
    return secret;
  }
  if (!isLoopback(opts.host))
    throw new RangeError(
      `--host ${opts.host} opens the peer port to other hosts: give a cluster secret with --cluster-secret or $PLUME_CLUSTER_SECRET (make one with: openssl rand -hex 32)`,
    );
  return undefined;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The registry deployments go to: Redis with --redis (shared by every node), else the data directory (one
 * node), else none (--no-data-dir: deployments last as long as the process).
 */
export async function openRegistry(opts: UpOptions): Promise<Registry | undefined> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  if (opts.redis !== undefined && !opts.localRegistry) {
    const store = new RedisRegistryStore({ url: opts.redis });
    try {
      await store.connect({ optional: opts.redisOptional ?? false });
    } catch (err) {
      const reason = (err as Error).message.replace(/^.*cannot be reached: /, '');
      throw new PlumeError(
        'PLUME_ESTATE_UNAVAILABLE',
        `cannot reach Redis at ${opts.redis} (${reason}): start it, fix --redis, or pass --redis-optional to start single-node`,
      );
    }
    return new Registry(store, { log });
  }
  if (opts.dataDir === false) return undefined;
  // One folder per port by default, so the nodes of a laptop cluster (8080, 8081…) each keep their own.
  // A node on a random port (0) has no identity a restart could find again: it persists only when told where.
  const dir = opts.dataDir ?? (process.env['PLUME_DATA_DIR'] || (opts.port === 0 ? undefined : join(defaultDataDir(), String(opts.port))));
  return dir === undefined ? undefined : new Registry(DataDirStore.open(dir), { log });
}

/** Durable async calls in Redis when the node has one; callbacks' policy, signing and retries. */
export function asyncOptions(opts: UpOptions): AsyncCallOptions {
  const secret = opts.callbackSecret ?? process.env['PLUME_CALLBACK_SECRET'] ?? opts.clusterSecret ?? process.env['PLUME_CLUSTER_SECRET'];
  // One line when the queue loses Redis and one when it is back (not at the first connect).
  let lost = false;
  const onConnection = (up: boolean, error?: Error): void => {
    if (up === !lost) return;
    lost = !up;
    process.stderr.write(
      up
        ? 'plume: async calls: Redis is back\n'
        : `plume: async calls: Redis lost (${error?.message ?? 'unknown'}); accepts get 503 until it is back\n`,
    );
  };
  return {
    ...(opts.redis === undefined
      ? {}
      : { redis: { url: opts.redis, onConnection, ...(opts.asyncVisibilityMs ? { visibilityMs: opts.asyncVisibilityMs } : {}) } }),
    ...(opts.asyncResultBytes ? { maxResultBytes: opts.asyncResultBytes } : {}),
    ...(opts.asyncTotalBytes ? { maxTotalBytes: opts.asyncTotalBytes } : {}),
    callbacks: {
      allow: opts.callbackAllow ?? [],
      ...(secret ? { secret } : {}),
      ...(opts.callbackAttempts ? { attempts: opts.callbackAttempts } : {}),
      ...(opts.callbackBackoffMs === undefined ? {} : { backoffMs: opts.callbackBackoffMs }),
    },
  };
}

export function starting(): PlumeError {
  return new PlumeError('PLUME_EBUSY', 'this node is still starting: retry in a moment', { retryAfterS: 1 });
}

/**
 * `plume up`: start a node (the runtime and its HTTP gateway), apply the `--apply` workflows, and serve
 * until SIGINT or SIGTERM, then finish what was accepted and exit. The URL goes to stdout (scripts read
 * it); the rest to stderr.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { dirname, join, resolve } from 'node:path';
import { DataDirStore, defaultDataDir } from '../cluster/data-dir.ts';
import { PeerLinks, servePeers, type PeerService } from '../cluster/links.ts';
import { Registry } from '../cluster/registry.ts';
import { RedisRegistryStore } from '../cluster/registry-redis.ts';
import { startGateway, type AsyncCallOptions } from '../gateway/index.ts';
import type { Membership } from '../cluster/membership.ts';
import { PlumeError } from '../errors.ts';
import { readFileOr } from '../read-file.ts';
import { Plume } from '../runtime.ts';
import { drain, joinCluster, readinessChecks } from './up-cluster.ts';

export interface UpOptions {
  host: string;
  port: number;
  workers?: number;
  workerMemoryMb?: number;
  redis?: string;
  adminToken?: string;
  queue?: number;
  /** Gateway URLs of nodes whose functions this one may call (repeatable). */
  peer?: string[];
  /** Bearer token for the peers' /system/node (their admin token). */
  peerToken?: string;
  /** Nodes with the same host id link over a Unix socket; default the hostname. */
  hostId?: string;
  /** Workflow specs applied before the node listens (repeatable): it answers only once they are served. */
  apply?: string[];
  /** CIDRs, addresses or hosts that callbacks may reach though not public (repeatable). */
  callbackAllow?: string[];
  /** HMAC key of callback signatures; default $PLUME_CALLBACK_SECRET, else the cluster secret. */
  callbackSecret?: string;
  callbackAttempts?: number;
  callbackBackoffMs?: number;
  /** With --redis: a claimed async call not renewed for this long runs on another node. */
  asyncVisibilityMs?: number;
  asyncResultBytes?: number;
  asyncTotalBytes?: number;
  /**
   * Without --redis, where deployments persist; default `<user state dir>/plume/<port>` (none on port 0);
   * false: nowhere (--no-data-dir).
   */
  dataDir?: string | false;
  /**
   * With --redis: this node's deployments stay its own (kept as without --redis) instead of going to the
   * cluster's registry: a node that serves functions the others do not (a GPU node's models, say).
   */
  localRegistry?: boolean;
  /** Unique in the cluster; default hostname-pid. */
  nodeId?: string;
  /** The host peers reach this node's TCP peer server at (never a wildcard). */
  advertise?: string;
  peerPort?: number;
  /** Ms SIGTERM waits for calls in flight; default 25 s. */
  drainTimeout?: number;
  /** Start single-node when Redis cannot be reached. */
  redisOptional?: boolean;
}

const log = (line: string): void => void process.stderr.write(`plume: ${line}\n`);

export async function upCommand(opts: UpOptions): Promise<void> {
  const adminToken = opts.adminToken ?? process.env['PLUME_ADMIN_TOKEN'];
  // First: a data directory another node holds, or a Redis that cannot be reached, stops the start here.
  const registry = await openRegistry(opts);
  let plume: Plume;
  try {
    plume = await Plume.start({
      logTo: process.stderr,
      ...(opts.workers === undefined ? {} : { workers: opts.workers }),
      ...(opts.workerMemoryMb === undefined ? {} : { workerMemoryMb: opts.workerMemoryMb }),
      ...(opts.redis === undefined ? {} : { redisUrl: opts.redis }),
    });
  } catch (err) {
    await registry?.close();
    throw err;
  }
  let gateway;
  let peerService: PeerService | undefined;
  let links: PeerLinks | undefined;
  let membership: Membership | undefined;
  let stopping = false;
  try {
    await applyAtBoot(plume, opts.apply ?? []);
    peerService = await servePeers(plume, {
      host: opts.host,
      ...(opts.hostId ? { hostId: opts.hostId } : {}),
      ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
      ...(opts.advertise ? { advertise: opts.advertise } : {}),
      ...(opts.peerPort === undefined ? {} : { port: opts.peerPort }),
    });
    links = await linkPeers(plume, peerService, opts);
    gateway = await startGateway(plume, {
      host: opts.host,
      port: opts.port,
      node: peerService.info,
      ...(links ? { peers: links } : {}),
      ...(adminToken ? { adminToken } : {}),
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
      async: asyncOptions(opts),
      ...(registry ? { registry, registryOptional: opts.redisOptional ?? false } : {}),
      readiness: [
        // A node that may run without Redis is ready without its registry too.
        ...(registry && !opts.redisOptional ? [registry.readiness] : []),
        ...readinessChecks(
          () => stopping,
          () => membership,
          opts.redis !== undefined && !opts.redisOptional,
        ),
      ],
    });
    if (opts.redis !== undefined) {
      const cluster = { redis: opts.redis, optional: opts.redisOptional ?? false, plume, service: peerService, links: links!, log };
      membership = await joinCluster({ ...cluster, gateway: gateway.url }).catch(async (err: unknown) => {
        await gateway!.close();
        throw err;
      });
    }
  } catch (err) {
    await links?.close();
    await peerService?.close();
    await plume.close();
    await registry?.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new RangeError(`port ${opts.port} on ${opts.host} is in use: pick another with --port`, { cause: err });
    throw err;
  }
  process.stdout.write(`${gateway.url}\n`);
  const state = opts.redis === undefined ? 'in-memory state' : `state in ${opts.redis}`;
  const auth = adminToken ? 'admin token required for /system' : 'no admin token: /system is open';
  process.stderr.write(`plume: node up at ${gateway.url} (${plume.workers} workers, ${state}, ${auth}); Ctrl-C stops it\n`);
  process.stderr.write(
    adminToken
      ? `plume: dashboard at ${gateway.url}/ui (log in with the admin token)\n`
      : 'plume: dashboard off (/ui needs an admin token: --admin-token or PLUME_ADMIN_TOKEN)\n',
  );
  if (registry?.firstLoad) {
    const { loaded, skipped } = registry.firstLoad;
    process.stderr.write(`plume: registry: ${loaded} entries loaded from ${registry.where}${skipped ? ` (${skipped} skipped)` : ''}\n`);
  } else {
    process.stderr.write('plume: deployments are kept in memory only (--port 0 without --data-dir, or --no-data-dir)\n');
  }

  logStateOutages();
  for (const p of (links?.peers ?? []).filter((p) => opts.peer?.includes(p.url))) {
    process.stderr.write(`plume: linked to peer ${p.node} at ${p.url} over ${p.mode} (${p.functions.length} functions)\n`);
  }

  const drainMs = opts.drainTimeout ?? 25_000;
  await new Promise<void>((stopped) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`plume: ${signal} again, exiting without waiting\n`);
        process.exit(130);
      }
      stopping = true; // /readyz answers 503 from now on
      process.stderr.write(`plume: ${signal}: finishing accepted requests, then stopping\n`);
      let clean = true;
      void drain({ membership, gateway, service: peerService }, drainMs, log)
        .then((drained) => (clean = drained))
        .then(() => membership?.close())
        .then(() => links?.close())
        .then(() => peerService.close())
        .then(() => {
          if (clean) return plume.close().then(() => registry?.close());
          // The runtime would wait for its calls: the bound is the drain timeout, so they are cut off.
          log(`drain timeout: calls still running after ${drainMs} ms are cut off`);
          process.exit(1);
        })
        .finally(stopped);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.stderr.write('plume: node stopped\n');
}

/**
 * The registry deployments go to: Redis with --redis (shared by every node), else the data directory (one
 * node), else none (--no-data-dir: deployments last as long as the process).
 */
async function openRegistry(opts: UpOptions): Promise<Registry | undefined> {
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

/**
 * Each `--apply` spec, its relative paths from its own folder (as `plume workflow apply` reads them). This
 * runs before the gateway listens, so a probe (/healthz, /readyz) that answers at all finds them served.
 */
async function applyAtBoot(plume: Plume, specs: readonly string[]): Promise<void> {
  for (const file of specs) {
    const bytes = await readFileOr('PLUME_ESPEC', 'workflow spec', file);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    try {
      const info = await plume.applyWorkflow(text, { baseDir: dirname(resolve(file)) });
      process.stderr.write(`plume: applied workflow ${info.name} from ${file} (${info.steps.length} steps)\n`);
    } catch (err) {
      if (!(err instanceof PlumeError)) throw err;
      throw new PlumeError(err.code, `--apply ${file}: ${err.message}`, err.details);
    }
  }
}

/** Link to every `--peer`; the first one that cannot be reached stops the start with its reason. */
async function linkPeers(plume: Plume, service: PeerService, opts: UpOptions): Promise<PeerLinks | undefined> {
  // With Redis the members are linked as they are discovered; --peer links more, by hand.
  if (!opts.peer?.length && opts.redis === undefined) return undefined;
  const token = opts.peerToken ?? process.env['PLUME_PEER_TOKEN'];
  const links = new PeerLinks({ self: service.info, ...(token ? { token } : {}), onChange: () => plume.remoteChanged() });
  try {
    for (const url of opts.peer ?? []) await links.link(url);
  } catch (err) {
    await links.close();
    throw err;
  }
  plume.link(links);
  return links;
}

/** Durable async calls in Redis when the node has one; callbacks' policy, signing and retries. */
function asyncOptions(opts: UpOptions): AsyncCallOptions {
  const secret =
    opts.callbackSecret ??
    process.env['PLUME_CALLBACK_SECRET'] ??
    (opts as { clusterSecret?: string }).clusterSecret ??
    process.env['PLUME_CLUSTER_SECRET'];
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

/** One line when the global state tier goes away and one when it is back (the backend reports transitions only). */
function logStateOutages(): void {
  let down = false;
  diagnostics_channel.subscribe('plume:state:connection', (message: unknown) => {
    const { url, event, error } = message as { url: string; event: 'ready' | 'error'; error?: Error };
    if (event === 'error') {
      down = true;
      process.stderr.write(
        `plume: the state tier at ${url} is unavailable (${error?.message ?? 'unknown'}); calls that need it get 503 until it is back\n`,
      );
    } else if (down) {
      down = false;
      process.stderr.write(`plume: the state tier at ${url} is back\n`);
    }
  });
}

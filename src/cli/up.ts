/**
 * `plume up`: start a node (the runtime and its HTTP gateway), apply the `--apply` workflows, and serve
 * until SIGINT or SIGTERM, then finish what was accepted and exit. The URL goes to stdout (scripts read
 * it); the rest to stderr.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { dirname, resolve } from 'node:path';
import { PeerLinks, servePeers, type PeerService } from '../cluster/links.ts';
import { startGateway } from '../gateway/index.ts';
import type { Membership } from '../cluster/membership.ts';
import type { PeerGuard } from '../cluster/peer.ts';
import { PlumeError } from '../errors.ts';
import { readFileOr } from '../read-file.ts';
import { Plume } from '../runtime.ts';
import { drain, joinCluster, readinessChecks } from './up-cluster.ts';
import { asyncOptions, clusterSecret, openRegistry, starting } from './up-options.ts';

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
  /** Ms a peer may stay silent (pings unanswered) before it is lost; default 1000, 0: off. */
  peerTimeoutMs?: number;
  /** Ms SIGTERM waits for calls in flight; default 25 s. */
  drainTimeout?: number;
  /** Start single-node when Redis cannot be reached. */
  redisOptional?: boolean;
  /** The cluster secret every peer connection proves (or $PLUME_CLUSTER_SECRET); required off loopback. */
  clusterSecret?: string;
}

const log = (line: string): void => void process.stderr.write(`plume: ${line}\n`);

export async function upCommand(opts: UpOptions): Promise<void> {
  const adminToken = opts.adminToken ?? process.env['PLUME_ADMIN_TOKEN'];
  const secret = clusterSecret(opts);
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
    // Peer calls meet the gateway's doors; until it is up (a moment), they are turned away to retry.
    const gate: { guard?: PeerGuard } = {};
    peerService = await servePeers(plume, {
      host: opts.host,
      ...(opts.hostId ? { hostId: opts.hostId } : {}),
      ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
      ...(opts.advertise ? { advertise: opts.advertise } : {}),
      ...(opts.peerPort === undefined ? {} : { port: opts.peerPort }),
      ...(secret === undefined ? {} : { secret }),
      guard: (call) => (gate.guard ? gate.guard(call) : Promise.reject(starting())),
    });
    links = await linkPeers(plume, peerService, opts, secret);
    gateway = await startGateway(plume, {
      host: opts.host,
      port: opts.port,
      node: peerService.info,
      ...(links ? { peers: links } : {}),
      members: () => membership?.members ?? [],
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
    gate.guard = gateway.peerGuard;
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
  const auth = `${adminToken ? 'admin token required for /system' : 'no admin token: /system is open'}, ${secret ? 'peers authenticated by the cluster secret' : 'no cluster secret: peers on loopback only'}`;
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
async function linkPeers(plume: Plume, service: PeerService, opts: UpOptions, secret: string | undefined): Promise<PeerLinks | undefined> {
  // With Redis the members are linked as they are discovered; --peer links more, by hand.
  if (!opts.peer?.length && opts.redis === undefined) return undefined;
  const token = opts.peerToken ?? process.env['PLUME_PEER_TOKEN'];
  const links = new PeerLinks({
    self: service.info,
    ...(token ? { token } : {}),
    ...(secret === undefined ? {} : { secret }),
    ...(opts.peerTimeoutMs === undefined ? {} : { peerTimeoutMs: opts.peerTimeoutMs }),
    onChange: () => plume.remoteChanged(),
  });
  try {
    for (const url of opts.peer ?? []) await links.link(url);
  } catch (err) {
    await links.close();
    throw err;
  }
  plume.link(links);
  return links;
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

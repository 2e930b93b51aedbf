/**
 * `plume up`: start a node (the runtime and its HTTP gateway), apply the `--apply` workflows, and serve
 * until SIGINT or SIGTERM, then finish what was accepted and exit. The URL goes to stdout (scripts read
 * it); the rest to stderr.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { dirname, resolve } from 'node:path';
import { PeerLinks, servePeers, type PeerService } from '../cluster/links.ts';
import type { PeerGuard } from '../cluster/peer.ts';
import { secretKey } from '../data/transport/handshake.ts';
import { startGateway } from '../gateway/index.ts';
import { PlumeError } from '../errors.ts';
import { readFileOr } from '../read-file.ts';
import { Plume } from '../runtime.ts';

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
  /** The cluster secret every peer connection proves (or $PLUME_CLUSTER_SECRET); required off loopback. */
  clusterSecret?: string;
}

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

export async function upCommand(opts: UpOptions): Promise<void> {
  const adminToken = opts.adminToken ?? process.env['PLUME_ADMIN_TOKEN'];
  const secret = clusterSecret(opts);
  const plume = await Plume.start({
    logTo: process.stderr,
    ...(opts.workers === undefined ? {} : { workers: opts.workers }),
    ...(opts.workerMemoryMb === undefined ? {} : { workerMemoryMb: opts.workerMemoryMb }),
    ...(opts.redis === undefined ? {} : { redisUrl: opts.redis }),
  });
  let gateway;
  let peerService: PeerService | undefined;
  let links: PeerLinks | undefined;
  try {
    await applyAtBoot(plume, opts.apply ?? []);
    // Peer calls meet the gateway's doors; until it is up (a moment), they are turned away to retry.
    const gate: { guard?: PeerGuard } = {};
    peerService = await servePeers(plume, {
      host: opts.host,
      ...(opts.hostId ? { hostId: opts.hostId } : {}),
      ...(secret === undefined ? {} : { secret }),
      guard: (call) => (gate.guard ? gate.guard(call) : Promise.reject(starting())),
    });
    links = await linkPeers(plume, peerService, opts, secret);
    gateway = await startGateway(plume, {
      host: opts.host,
      port: opts.port,
      node: peerService.info,
      ...(links ? { peers: links } : {}),
      ...(adminToken ? { adminToken } : {}),
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
    });
    gate.guard = gateway.peerGuard;
  } catch (err) {
    await links?.close();
    await peerService?.close();
    await plume.close();
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

  logStateOutages();
  for (const p of links?.peers ?? []) {
    process.stderr.write(`plume: linked to peer ${p.node} at ${p.url} over ${p.mode} (${p.functions.length} functions)\n`);
  }

  await new Promise<void>((stopped) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`plume: ${signal} again, exiting without waiting\n`);
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`plume: ${signal}: finishing accepted requests, then stopping\n`);
      void gateway
        .close()
        .then(() => links?.close())
        .then(() => peerService.close())
        .then(() => plume.close())
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
  if (!opts.peer?.length) return undefined;
  const token = opts.peerToken ?? process.env['PLUME_PEER_TOKEN'];
  const links = new PeerLinks({
    self: service.info,
    ...(token ? { token } : {}),
    ...(secret === undefined ? {} : { secret }),
    onChange: () => plume.remoteChanged(),
  });
  try {
    for (const url of opts.peer) await links.link(url);
  } catch (err) {
    await links.close();
    throw err;
  }
  plume.link(links);
  return links;
}

function starting(): PlumeError {
  return new PlumeError('PLUME_EBUSY', 'this node is still starting: retry in a moment', { retryAfterS: 1 });
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

/**
 * A node's links to its peers (`plume up --peer URL`; docs/dataplane.md, Peers). Each node serves its
 * functions over both socket transports (`servePeers`); a node that links to another asks it where it
 * listens and picks the mode by locality, as CWASI does: a Unix socket (`local`) when both run on the same
 * host, TCP (`networked`) otherwise. The runtime then runs any function it lacks on the peer that serves it,
 * with the cheapest edge first, and every hop says in its trace which mode it took.
 */
import { hostname } from 'node:os';
import { PlumeError } from '../errors.ts';
import type { RemoteHop } from '../executor/protocol.ts';
import { formatHostPort, parseHostPort } from '../data/transport/networked.ts';
import { DEFAULT_PEER_TIMEOUT_MS, checkPeerTimeout, type ClientOptions } from '../data/transport/index.ts';
import { advertisedHost, removeStaleSockets } from './membership-sockets.ts';
import type { Plume, RemoteFunctions } from '../runtime.ts';
import { PeerClient, PeerServer, type PeerCaller, type PeerFunction, type PeerGuard } from './peer.ts';

/** What `GET /system/node` answers: who a node is and where its peer servers listen. */
export interface NodeInfo {
  /** Unique per node process. */
  readonly node: string;
  /** Nodes with the same host id share a file system and a kernel: they link over a Unix socket. */
  readonly host: string;
  /** Its peer servers: a Unix socket path and a TCP `address:port`. */
  readonly local: string;
  readonly networked: string;
  /** Its worker threads (a peer spreads calls to it by calls in flight per worker). */
  readonly workers: number;
}

export interface ServePeersOptions {
  /** The interface the TCP peer server listens on (the gateway's host); default 127.0.0.1. */
  readonly host?: string;
  /** Default `os.hostname()`: two nodes in separate containers or VMs have different ones. */
  readonly hostId?: string;
  /** Unique in the cluster (`plume up --node-id`); default `hostname-pid`. */
  readonly nodeId?: string;
  /** The TCP peer server's port (`--peer-port`; a NetworkPolicy opens a fixed one); default 0, any free port. */
  readonly port?: number;
  /**
   * The host other nodes reach the TCP peer server at (`--advertise`). Default `host`, except a wildcard
   * (0.0.0.0, ::), which is where a server listens, not an address: then this host's first non-internal address.
   */
  readonly advertise?: string;
  /** The cluster secret: both peer servers accept only clients that prove they hold it (docs/dataplane.md, Peer security). */
  readonly secret?: string;
  /** Checks each peer call before it runs (`plume up` passes the gateway's invoke tokens and admission). */
  readonly guard?: PeerGuard;
}

export interface PeerService {
  readonly info: NodeInfo;
  /** True once no call that peers sent runs any more, false if some still run after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Serve this node's functions to its peers on a fresh Unix socket and on TCP (port 0 unless given). */
export async function servePeers(plume: Plume, options: ServePeersOptions = {}): Promise<PeerService> {
  // A killed node could not unlink its socket: sweep those of dead processes before adding ours.
  await removeStaleSockets();
  const host = options.host ?? '127.0.0.1';
  const shared = {
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.guard === undefined ? {} : { guard: options.guard }),
  };
  const local = new PeerServer(plume, { mode: 'local', ...shared });
  const networked = new PeerServer(plume, { mode: 'networked', ...shared });
  const [localAddress, networkedAddress] = await Promise.all([
    local.listen(),
    networked.listen(formatHostPort(host, options.port ?? 0)).catch(async (err: NodeJS.ErrnoException) => {
      await local.close();
      if (err.code === 'EADDRINUSE') throw new RangeError(`peer port ${options.port} on ${host} is in use: pick another with --peer-port`);
      throw err;
    }),
  ]);
  const info: NodeInfo = {
    node: options.nodeId ?? `${hostname()}-${process.pid}`,
    host: options.hostId ?? hostname(),
    local: localAddress,
    networked: formatHostPort(advertisedHost(host, options.advertise), parseHostPort(networkedAddress).port),
    workers: plume.workers,
  };
  return {
    info,
    drain: async (timeoutMs) => (await Promise.all([local.drain(timeoutMs), networked.drain(timeoutMs)])).every(Boolean),
    close: async () => void (await Promise.all([local.close(), networked.close()])),
  };
}

interface Link {
  /** The gateway URL it was linked by (`--peer`), or the one its membership record names. */
  readonly url: string;
  readonly node: string;
  readonly mode: 'local' | 'networked';
  readonly client: PeerClient;
  readonly workers: number;
  /** What it was linked from: a `--peer` URL is asked again for its node info; a member's record is kept. */
  readonly info: NodeInfo;
  readonly member: boolean;
  /** Calls this node has sent it that have not finished. */
  inflight: number;
  functions: readonly PeerFunction[];
  /**
   * Set once its connection was lost (closed, or silent past the peer timeout): its functions leave the
   * catalog until a reconnect (`refresh`, and soon after the loss) succeeds.
   */
  down: boolean;
  /** Unlinked: no new calls; its connection closes once the calls in flight there have finished. */
  retired: boolean;
}

export interface LinkedPeer {
  readonly url: string;
  readonly node: string;
  readonly mode: 'local' | 'networked';
  readonly functions: readonly string[];
  /** Its connection was lost: no calls go there until a reconnect succeeds. */
  readonly down: boolean;
}

export interface PeerLinksOptions {
  /** This node: a peer with its host id is reached over its Unix socket, and linking to itself is refused. */
  readonly self: Pick<NodeInfo, 'node' | 'host'>;
  /** Sent as `Authorization: Bearer` to the peers' `/system/node` (their admin token). */
  readonly token?: string;
  /** The cluster secret, proved to every peer's server on connect. */
  readonly secret?: string;
  /** Called after the catalog changed (the runtime passes `remoteChanged`). */
  readonly onChange?: () => void;
  /**
   * Ask the peers what they serve every this many ms (default 10 s; 0: only when linking and on a miss), so
   * that a function deployed on a peer later, which this node also serves, is found for spreading.
   */
  readonly refreshMs?: number;
  /**
   * A peer that sends nothing for this many ms, pings unanswered, is lost (`plume up --peer-timeout-ms`;
   * default 1000, 0: off): the calls in flight there fail with PLUME_EPEER, and are retried as on a closed
   * connection. Without it a host lost without a FIN holds its calls until their own timeout.
   */
  readonly peerTimeoutMs?: number;
}

/** After a link is lost, reconnects are tried this long apart, doubling, up to the refresh period. */
const RECONNECT_FIRST_MS = 1000;

/** The peers this node reaches, cheapest first, and the functions they serve. */
export class PeerLinks implements RemoteFunctions {
  readonly #options: PeerLinksOptions;
  readonly #links: Link[] = [];
  /** Function name → the live links that serve it, cheapest edge first. */
  readonly #where = new Map<string, Link[]>();
  readonly catalog = new Map<string, number>();
  #refreshing: Promise<void> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #refreshMs: number;
  readonly #clientOptions: ClientOptions;
  /** The next reconnect of lost links, and how long after it the one after would be. */
  #reconnect: { timer: NodeJS.Timeout | undefined; afterMs: number } = { timer: undefined, afterMs: RECONNECT_FIRST_MS };
  #closed = false;

  constructor(options: PeerLinksOptions) {
    this.#options = options;
    const every = options.refreshMs ?? 10_000;
    if (!(Number.isFinite(every) && every >= 0)) throw new RangeError(`refreshMs must be a number of ms ≥ 0, got ${every}`);
    this.#refreshMs = every;
    const peerTimeoutMs = checkPeerTimeout(options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS);
    this.#clientOptions = { peerTimeoutMs, ...(options.secret === undefined ? {} : { secret: options.secret }) };
    if (every > 0) {
      // Never keeps the process alive; a failed round leaves the links as they were (refresh marks dead ones).
      this.#timer = setInterval(() => void this.refresh().catch(() => {}), every);
      this.#timer.unref();
    }
  }

  /** Link to the node whose gateway is at `url`; rejects with PLUME_EPEER naming the URL when it cannot. */
  async link(url: string): Promise<LinkedPeer> {
    const info = await fetchNodeInfo(url, this.#options.token);
    if (info.node === this.#options.self.node) throw new PlumeError('PLUME_EPEER', `${url} is this node: a node cannot be its own peer`);
    return described(this.#add(await this.#connect(url, info, false)));
  }

  /**
   * Link to a member of the cluster as its membership record describes it (src/cluster/membership.ts), at
   * the addresses the record gives: discovery never connects anywhere a peer's frames name. A node already
   * linked under the same id is replaced (it restarted, with new addresses).
   */
  async linkMember(info: NodeInfo, url = `member:${info.node}`): Promise<LinkedPeer> {
    if (info.node === this.#options.self.node) throw new PlumeError('PLUME_EPEER', `member ${info.node} is this node`);
    const link = await this.#connect(url, info, true);
    this.unlink(info.node);
    return described(this.#add(link));
  }

  /**
   * Stop sending calls to `node` (it left the cluster, or its record expired). Calls in flight there keep
   * their connection until they finish, so a node that drains answers them; a dead one has failed them.
   */
  unlink(node: string): boolean {
    const i = this.#links.findIndex((l) => l.node === node);
    if (i < 0) return false;
    const [link] = this.#links.splice(i, 1);
    link!.retired = true;
    this.#rebuild();
    if (link!.inflight === 0) void link!.client.close().catch(() => {});
    return true;
  }

  get peers(): LinkedPeer[] {
    return this.#links.map(described);
  }

  /** Ask every peer again what it serves, reconnecting links that went down; concurrent calls share one round. */
  refresh(): Promise<void> {
    return (this.#refreshing ??= this.#refreshAll().finally(() => (this.#refreshing = undefined)));
  }

  /**
   * Runs `name` on the least loaded of the cheapest links that serve it. A call whose peer dies on the way
   * (PLUME_EPEER) is run once more on another node that serves it, unless the function is stateful: its
   * state lived there and the call may have run, so it fails with PLUME_EPEER_LOST (docs/cluster.md, Failover).
   * `client`: the outside client a call is made for (its token travels); none: this node's own call.
   */
  async invoke(name: string, input: Uint8Array, client?: { readonly token?: string }): Promise<{ output: Uint8Array; hop: RemoteHop }> {
    const caller: PeerCaller = client ? { kind: 'client', token: client.token } : { kind: 'node' };
    let link = this.#pick(name);
    if (!link) {
      await this.refresh();
      link = this.#pick(name);
    }
    if (!link) throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed here or on a peer`, { function: name });
    try {
      return await this.#call(link, name, input, caller);
    } catch (err) {
      if (!lost(err, link)) throw err;
      if (link.functions.find((f) => f.name === name)?.stateful) {
        throw new PlumeError(
          'PLUME_EPEER_LOST',
          `node ${link.node} was lost while running stateful function '${name}': the call was not retried elsewhere (it may have run there)`,
          { function: name, node: link.node },
        );
      }
      const other = this.#pick(name);
      if (!other) throw err;
      return await this.#call(other, name, input, caller);
    }
  }

  load(name: string): { workers: number; inflight: number } | undefined {
    const link = this.#pick(name);
    return link && { workers: link.workers, inflight: link.inflight };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#reconnect.timer);
    const links = this.#links.splice(0);
    this.#rebuild();
    await Promise.all(links.map((l) => l.client.close().catch(() => {})));
  }

  async #call(link: Link, name: string, input: Uint8Array, caller: PeerCaller): Promise<{ output: Uint8Array; hop: RemoteHop }> {
    link.inflight++;
    try {
      const { output, call } = await link.client.invokeDetailed(name, input, { caller });
      return { output, hop: { node: link.node, mode: link.mode, bytesMoved: call.bytesMoved, bytesCopied: call.bytesCopied } };
    } catch (err) {
      const code = (err as PlumeError).code;
      if (code === 'PLUME_EPEER') this.#lost(link);
      else if (code === 'PLUME_ENOFUNC') void this.refresh().catch(() => {}); // removed there since we last asked
      throw err;
    } finally {
      if (--link.inflight === 0 && link.retired) void link.client.close().catch(() => {});
    }
  }

  /** The cheapest edge first (a Unix socket before TCP); among equals, the fewest calls in flight per worker. */
  #pick(name: string): Link | undefined {
    let best: Link | undefined;
    for (const link of this.#where.get(name) ?? []) {
      if (best && rank(link) > rank(best)) break;
      if (!best || (link.inflight + 1) / link.workers < (best.inflight + 1) / best.workers) best = link;
    }
    return best;
  }

  /** Its connection ended (a call failed with PLUME_EPEER, or the client saw it go): out of the catalog until it reconnects. */
  #lost(link: Link): void {
    if (link.retired || link.down || !this.#links.includes(link)) return;
    link.down = true;
    this.#rebuild();
    this.#scheduleReconnect();
  }

  /**
   * Reconnects lost links soon, not only at the next refresh: a peer that was silent for a moment (a
   * stalled process, a network blip) serves again a second later. Doubling while some stay down.
   */
  #scheduleReconnect(): void {
    if (this.#reconnect.timer !== undefined || this.#closed) return;
    const afterMs = this.#reconnect.afterMs;
    this.#reconnect.timer = setTimeout(() => {
      void this.refresh()
        .catch(() => {})
        .finally(() => {
          const stillDown = this.#links.some((l) => l.down);
          const cap = this.#refreshMs > 0 ? this.#refreshMs : 10_000;
          this.#reconnect = { timer: undefined, afterMs: stillDown ? Math.min(afterMs * 2, cap) : RECONNECT_FIRST_MS };
          if (stillDown) this.#scheduleReconnect();
        });
    }, afterMs);
    this.#reconnect.timer.unref();
  }

  #add(link: Link): Link {
    this.#links.push(link);
    // Cheapest edge first: the catalog then names a local link wherever one serves the function.
    this.#links.sort((a, b) => rank(a) - rank(b));
    this.#rebuild();
    return link;
  }

  async #connect(url: string, info: NodeInfo, member: boolean): Promise<Link> {
    // Same host: the Unix socket (no TCP/IP stack, ~1.5–2× faster for large payloads); else TCP, at the
    // address the peer gave unless it listens on every interface, where the gateway URL's host reaches it.
    const sameHost = info.host === this.#options.self.host;
    const mode = sameHost ? 'local' : 'networked';
    let address = sameHost ? info.local : info.networked;
    let client: PeerClient;
    // The link this connection becomes: told when the connection is lost (closed, or silent past the timeout).
    let link: Link | undefined;
    try {
      if (!sameHost && !member) address = reachable(address, url);
      client = await PeerClient.connect(address, mode, { ...this.#clientOptions, onLost: () => link && this.#lost(link) });
    } catch (err) {
      throw new PlumeError('PLUME_EPEER', `cannot reach peer ${url} over ${mode} at ${address}: ${(err as Error).message}`);
    }
    try {
      const functions = await client.functions({ timeoutMs: 10_000 });
      return (link = {
        url,
        node: info.node,
        mode,
        client,
        workers: info.workers,
        info,
        member,
        inflight: 0,
        functions,
        down: false,
        retired: false,
      });
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
  }

  async #refreshAll(): Promise<void> {
    await Promise.all(
      this.#links.map(async (link) => {
        try {
          if (link.down) {
            const info = link.member ? link.info : await fetchNodeInfo(link.url, this.#options.token);
            const fresh = await this.#connect(link.url, info, link.member);
            await link.client.close().catch(() => {});
            const i = this.#links.indexOf(link);
            if (i >= 0) this.#links[i] = fresh;
            else await fresh.client.close(); // unlinked meanwhile
          } else link.functions = await link.client.functions({ timeoutMs: 10_000 });
        } catch {
          this.#lost(link); // unreachable: its functions stay out of the catalog, and it is tried again soon
        }
      }),
    );
    this.#rebuild();
  }

  #rebuild(): void {
    const before = [...this.catalog].join();
    this.#where.clear();
    this.catalog.clear();
    for (const link of this.#links) {
      if (link.down) continue;
      for (const f of link.functions) {
        const serving = this.#where.get(f.name);
        if (serving) serving.push(link);
        else {
          this.#where.set(f.name, [link]);
          this.catalog.set(f.name, f.maxInputBytes);
        }
      }
    }
    if ([...this.catalog].join() !== before) this.#options.onChange?.();
  }
}

/** Did the call fail because its peer went away (not because the function failed there)? */
const lost = (err: unknown, link: Link): boolean => {
  const code = (err as PlumeError).code;
  return code === 'PLUME_EPEER' || (code === 'PLUME_ECLOSED' && link.retired);
};

const described = (link: Link): LinkedPeer => ({
  url: link.url,
  node: link.node,
  mode: link.mode,
  functions: link.functions.map((f) => f.name),
  down: link.down,
});

const rank = (link: Link): number => (link.mode === 'local' ? 0 : 1);

/** `0.0.0.0:p` or `[::]:p` is where a server listens, not where a client connects: use the URL's host. */
function reachable(address: string, url: string): string {
  const { host, port } = parseHostPort(address);
  return host === '0.0.0.0' || host === '::' ? `${new URL(url).hostname}:${port}` : address;
}

async function fetchNodeInfo(url: string, token: string | undefined): Promise<NodeInfo> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new PlumeError('PLUME_EPEER', `peer '${url}' is not a URL (expected http://host:port)`);
  }
  let res: Response;
  try {
    res = await fetch(new URL('/system/node', base), {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    // fetch wraps the reason: a refused connection has its code, a port fetch will not use (1, 25, …) its message.
    const { cause } = err as { cause?: { code?: string; message?: string } };
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new PlumeError('PLUME_EPEER', `cannot reach peer ${url}: ${reason}`);
  }
  if (!res.ok) {
    const detail = res.status === 401 || res.status === 403 ? ' (give its admin token with --peer-token)' : '';
    throw new PlumeError('PLUME_EPEER', `peer ${url} answered ${res.status} to GET /system/node${detail}`);
  }
  const info = (await res.json().catch(() => undefined)) as Partial<NodeInfo> | undefined;
  if (
    !info ||
    typeof info.node !== 'string' ||
    typeof info.host !== 'string' ||
    typeof info.local !== 'string' ||
    typeof info.networked !== 'string' ||
    !Number.isInteger(info.workers) ||
    info.workers! < 1
  )
    throw new PlumeError('PLUME_EPEER', `peer ${url} is not a Plume node (GET /system/node gave no node info)`);
  return info as NodeInfo;
}

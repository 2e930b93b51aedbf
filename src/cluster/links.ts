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
import { parseHostPort } from '../data/transport/networked.ts';
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
  /** The cluster secret: both peer servers accept only clients that prove they hold it (docs/dataplane.md, Peer security). */
  readonly secret?: string;
  /** Checks each peer call before it runs (`plume up` passes the gateway's invoke tokens and admission). */
  readonly guard?: PeerGuard;
}

export interface PeerService {
  readonly info: NodeInfo;
  close(): Promise<void>;
}

/** Serve this node's functions to its peers on a fresh Unix socket and on TCP port 0. */
export async function servePeers(plume: Plume, options: ServePeersOptions = {}): Promise<PeerService> {
  const shared = {
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.guard === undefined ? {} : { guard: options.guard }),
  };
  const local = new PeerServer(plume, { mode: 'local', ...shared });
  const networked = new PeerServer(plume, { mode: 'networked', ...shared });
  const [localAddress, networkedAddress] = await Promise.all([local.listen(), networked.listen(`${options.host ?? '127.0.0.1'}:0`)]);
  const info: NodeInfo = {
    node: `${hostname()}-${process.pid}`,
    host: options.hostId ?? hostname(),
    local: localAddress,
    networked: networkedAddress,
    workers: plume.workers,
  };
  return { info, close: async () => void (await Promise.all([local.close(), networked.close()])) };
}

interface Link {
  readonly url: string;
  readonly node: string;
  readonly mode: 'local' | 'networked';
  readonly client: PeerClient;
  readonly workers: number;
  /** Calls this node has sent it that have not finished. */
  inflight: number;
  functions: readonly PeerFunction[];
  /** Set once a call found the peer gone: its functions leave the catalog until `refresh` reconnects. */
  down: boolean;
}

export interface LinkedPeer {
  readonly url: string;
  readonly node: string;
  readonly mode: 'local' | 'networked';
  readonly functions: readonly string[];
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
}

/** The peers this node reaches, cheapest first, and the functions they serve. */
export class PeerLinks implements RemoteFunctions {
  readonly #options: PeerLinksOptions;
  readonly #links: Link[] = [];
  /** Function name → the cheapest live link that serves it. */
  readonly #where = new Map<string, Link>();
  readonly catalog = new Map<string, number>();
  #refreshing: Promise<void> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: PeerLinksOptions) {
    this.#options = options;
    const every = options.refreshMs ?? 10_000;
    if (!(Number.isFinite(every) && every >= 0)) throw new RangeError(`refreshMs must be a number of ms ≥ 0, got ${every}`);
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
    const link = await this.#connect(url, info);
    // Cheapest edge first: the catalog then names a local link wherever one serves the function.
    this.#links.push(link);
    this.#links.sort((a, b) => rank(a) - rank(b));
    this.#rebuild();
    return described(link);
  }

  get peers(): LinkedPeer[] {
    return this.#links.map(described);
  }

  /** Ask every peer again what it serves, reconnecting links that went down; concurrent calls share one round. */
  refresh(): Promise<void> {
    return (this.#refreshing ??= this.#refreshAll().finally(() => (this.#refreshing = undefined)));
  }

  /** `caller`: the outside client a call is made for (its token travels); none: this node's own call. */
  async invoke(name: string, input: Uint8Array, client?: { readonly token?: string }): Promise<{ output: Uint8Array; hop: RemoteHop }> {
    let link = this.#where.get(name);
    if (!link) {
      await this.refresh();
      link = this.#where.get(name);
    }
    if (!link) throw new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed here or on a peer`, { function: name });
    link.inflight++;
    try {
      const caller: PeerCaller = client ? { kind: 'client', token: client.token } : { kind: 'node' };
      const { output, call } = await link.client.invokeDetailed(name, input, { caller });
      return { output, hop: { node: link.node, mode: link.mode, bytesMoved: call.bytesMoved, bytesCopied: call.bytesCopied } };
    } catch (err) {
      const code = (err as PlumeError).code;
      if (code === 'PLUME_EPEER') {
        link.down = true;
        this.#rebuild();
      } else if (code === 'PLUME_ENOFUNC') void this.refresh().catch(() => {}); // removed there since we last asked
      throw err;
    } finally {
      link.inflight--;
    }
  }

  load(name: string): { workers: number; inflight: number } | undefined {
    const link = this.#where.get(name);
    return link && { workers: link.workers, inflight: link.inflight };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const links = this.#links.splice(0);
    this.#rebuild();
    await Promise.all(links.map((l) => l.client.close().catch(() => {})));
  }

  async #connect(url: string, info: NodeInfo): Promise<Link> {
    // Same host: the Unix socket (no TCP/IP stack, ~1.5–2× faster for large payloads); else TCP, at the
    // address the peer gave unless it listens on every interface, where the gateway URL's host reaches it.
    const sameHost = info.host === this.#options.self.host;
    const mode = sameHost ? 'local' : 'networked';
    let address = sameHost ? info.local : info.networked;
    let client: PeerClient;
    try {
      if (!sameHost) address = reachable(address, url);
      client = await PeerClient.connect(address, mode, this.#options.secret === undefined ? {} : { secret: this.#options.secret });
    } catch (err) {
      throw new PlumeError('PLUME_EPEER', `cannot reach peer ${url} over ${mode} at ${address}: ${(err as Error).message}`);
    }
    try {
      const functions = await client.functions({ timeoutMs: 10_000 });
      return { url, node: info.node, mode, client, workers: info.workers, inflight: 0, functions, down: false };
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
  }

  async #refreshAll(): Promise<void> {
    await Promise.all(
      this.#links.map(async (link, i) => {
        try {
          if (link.down) {
            const fresh = await this.#connect(link.url, await fetchNodeInfo(link.url, this.#options.token));
            await link.client.close().catch(() => {});
            this.#links[i] = fresh;
          } else link.functions = await link.client.functions({ timeoutMs: 10_000 });
        } catch {
          link.down = true; // still unreachable: its functions stay out of the catalog
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
        if (this.#where.has(f.name)) continue;
        this.#where.set(f.name, link);
        this.catalog.set(f.name, f.maxInputBytes);
      }
    }
    if ([...this.catalog].join() !== before) this.#options.onChange?.();
  }
}

const described = (link: Link): LinkedPeer => ({
  url: link.url,
  node: link.node,
  mode: link.mode,
  functions: link.functions.map((f) => f.name),
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

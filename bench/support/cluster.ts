/**
 * Many hosts on one machine: N `plume up` nodes as separate processes, each in its own Linux network
 * namespace (bench/support/netns.ts), and redis-server in one more, so that calls between nodes cross real
 * veths and a bridge. Where namespaces cannot be made (not root, no `ip`, EPERM, not Linux) the same nodes
 * run on loopback and `mode` says so, with the reason. `PLUME_CLUSTER_MODE=loopback|netns` (or `mode`)
 * forces one; a forced `netns` that cannot be made throws instead of falling back.
 *
 * Nodes find each other through Redis (`discovery: 'redis'`, the default with Redis: only `--redis URL`, no
 * `--peer`), or by explicit `--peer URL` links (`discovery: 'peer'`, each node linking to the ones started
 * before it unless `peers` says otherwise). Each node gets its own `--host-id`, so every link is TCP (over
 * the veth, or over loopback): a shared id would pick the Unix socket, which no namespace separates.
 *
 * Every node of a cluster gets the same `--cluster-secret`, fresh from crypto.randomBytes (a node listening
 * off loopback refuses to start without one; on loopback it is passed all the same, so both modes run the
 * authenticated path), and its own `--data-dir` in a temporary folder (used with `--local-registry` or
 * without Redis, so a restarted node finds its deployments; removed on close). `callbacks: true` adds
 * `--callback-allow` for the network the harness listens on (the bridge's subnet, or 127.0.0.1), since a
 * node refuses callbacks to private addresses otherwise.
 *
 * Teardown is by PID: `close()` stops the nodes and Redis, then deletes the namespaces; a process 'exit',
 * SIGINT or SIGTERM does the same synchronously, so a failing test or a killed run leaves nothing behind
 * (and `makeNamespaces` reaps what a SIGKILLed run left). Only namespace addresses and loopback are used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNamespaces, netnsUnavailable, type Namespaces } from './netns.ts';
import { startRedis, type RedisServer } from './redis.ts';

export type ClusterMode = 'netns' | 'loopback';

export interface ClusterOptions {
  /** How many `plume up` nodes (1 to 8), named a, b, c, … */
  readonly nodes: number;
  /** Start redis-server (in a namespace of its own) and give every node `--redis URL`; default true. */
  readonly redis?: boolean;
  /** Default `$PLUME_CLUSTER_MODE`, else 'auto': namespaces where they can be made, loopback otherwise. */
  readonly mode?: 'auto' | ClusterMode;
  /**
   * 'redis': no `--peer`, nodes discover each other through Redis; 'peer': explicit `--peer` links.
   * Default `$PLUME_CLUSTER_DISCOVERY`, else 'redis' when the cluster has Redis and 'peer' without it.
   */
  readonly discovery?: 'peer' | 'redis';
  /** With discovery 'peer': the nodes node `i` links to (each lower than `i`); default all nodes before it. */
  readonly peers?: (i: number) => readonly number[];
  /** More `plume up` arguments for node `i` (`--admin-token`, `--cluster-secret`, …). */
  readonly args?: (i: number) => readonly string[];
  /** Worker threads per node; default 1 (the nodes share this machine's cores). */
  readonly workers?: number;
  /** Pass `--callback-allow` for the harness's network, so that async callbacks may reach `clientAddress`. */
  readonly callbacks?: boolean;
}

export interface ClusterNode {
  readonly name: string;
  /** Its network namespace, or undefined on loopback. */
  readonly namespace: string | undefined;
  readonly address: string;
  /** Its gateway URL (the same after `restart`). */
  readonly url: string;
  readonly pid: number | undefined;
  /** Its node id in the cluster: the default `<hostname>-<pid>` of its latest process (a restart makes a new one). */
  readonly id: string;
  readonly running: boolean;
  /** What it wrote to stderr since it last started. */
  stderr(): string;
  /** Sends `signal` (default SIGKILL, a host lost) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same address and port with the same arguments. */
  restart(): Promise<void>;
}

export interface Cluster {
  readonly mode: ClusterMode;
  /** Why this mode: what made namespaces unavailable, or where the nodes live. */
  readonly reason: string;
  readonly subnet: string | undefined;
  /** Every namespace it made (the nodes', then Redis's) and the bridge; empty and undefined on loopback. */
  readonly namespaces: readonly string[];
  readonly bridge: string | undefined;
  readonly redis: RedisServer | undefined;
  readonly nodes: readonly ClusterNode[];
  /** Where the harness reaches the nodes from, and they reach it (a callback receiver): the bridge's address, or 127.0.0.1. */
  readonly clientAddress: string;
  /** The `--cluster-secret` every node was given (64 hex digits, new for each cluster). */
  readonly secret: string;
  /** How the nodes found each other. */
  readonly discovery: 'peer' | 'redis';
  /** A command prefix that runs a program in node `i`'s namespace (empty on loopback). */
  launcher(i: number): string[];
  /** Drops every packet to and from node `i` from now on (netns only: loopback cannot lose one host). */
  cut(i: number): void;
  /** Undoes `cut(i)`: node `i` is reachable again, with the sockets it had (netns only). */
  heal(i: number): void;
  close(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const NAMES = 'abcdefgh';

/** Everything a cluster still holds, for the synchronous teardown on exit. */
const live = new Set<{ pids: () => number[]; namespaces: Namespaces | undefined; dataDirs: string }>();

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.nodes;
  if (!Number.isInteger(count) || count < 1 || count > NAMES.length) throw new RangeError(`nodes must be 1 to 8, got ${count}`);
  const withRedis = options.redis ?? true;
  const discovery = options.discovery ?? discoveryFromEnv() ?? (withRedis ? 'redis' : 'peer');
  const peersOf = options.peers ?? ((i: number) => [...Array(i).keys()]);
  for (let i = 0; i < count; i++) {
    for (const j of peersOf(i)) {
      if (!(Number.isInteger(j) && j >= 0 && j < i))
        throw new RangeError(`peers(${i}) names node ${j}: a node links only to nodes started before it`);
    }
  }
  const wanted = options.mode ?? modeFromEnv();
  if (discovery === 'redis' && !withRedis) throw new TypeError('discovery through Redis needs redis: true');
  const { mode, reason } = pickMode(wanted);
  const labels = [...NAMES.slice(0, count), ...(withRedis ? ['r'] : [])];
  const namespaces = mode === 'netns' ? makeNamespaces(labels) : undefined;
  const launcher = (i: number): string[] => namespaces?.launcher(i) ?? [];
  const nodes: NodeProcess[] = [];
  let redis: RedisServer | undefined;
  const secret = randomBytes(32).toString('hex');
  const clientAddress = namespaces?.hostAddress ?? '127.0.0.1';
  const dataDirs = mkdtempSync(join(tmpdir(), 'plume-cluster-'));
  const entry = { pids: () => [...nodes.map((n) => n.pid), redis?.pid].filter((p) => p !== undefined), namespaces, dataDirs };
  live.add(entry);
  installExitHandlers();
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill('SIGTERM', 5000)));
    await redis?.stop();
    namespaces?.delete();
    rmSync(dataDirs, { recursive: true, force: true });
    live.delete(entry);
  };
  try {
    if (withRedis) {
      redis = namespaces
        ? await startRedis({ host: namespaces.addresses[count]!, port: 6379, launcher: launcher(count) })
        : await startRedis();
    }
    for (let i = 0; i < count; i++) {
      nodes.push(
        new NodeProcess({
          name: NAMES[i]!,
          namespace: namespaces?.names[i],
          address: namespaces?.addresses[i] ?? '127.0.0.1',
          launcher: launcher(i),
          args: [
            '--workers',
            String(options.workers ?? 1),
            '--host-id',
            `plume-cluster-${NAMES[i]}`,
            '--cluster-secret',
            secret,
            '--data-dir',
            join(dataDirs, NAMES[i]!),
            ...(options.callbacks ? ['--callback-allow', namespaces?.subnet ?? clientAddress] : []),
            ...(redis ? ['--redis', redis.url] : []),
            ...(options.args?.(i) ?? []),
          ],
          // Read when it starts: the peers' URLs are known only once they are up.
          peers: () => (discovery === 'peer' ? peersOf(i).flatMap((j) => ['--peer', nodes[j]!.url]) : []),
        }),
      );
    }
    // In waves: every node whose peers are up starts at once (all of them at once with discovery through Redis).
    const started = new Set<number>();
    while (started.size < count) {
      const wave = [...Array(count).keys()].filter(
        (i) => !started.has(i) && (discovery === 'redis' || peersOf(i).every((j) => started.has(j))),
      );
      await Promise.all(wave.map((i) => nodes[i]!.start()));
      for (const i of wave) started.add(i);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    mode,
    reason: namespaces ? `${count} nodes in network namespaces on ${namespaces.subnet} (bridge ${namespaces.bridge})` : reason,
    subnet: namespaces?.subnet,
    namespaces: namespaces?.names ?? [],
    bridge: namespaces?.bridge,
    redis,
    nodes,
    clientAddress,
    secret,
    discovery,
    launcher,
    cut: (i) => {
      if (!namespaces) throw new Error('cut needs network namespaces: on loopback every node shares one link');
      namespaces.cut(i);
    },
    heal: (i) => {
      if (!namespaces) throw new Error('heal needs network namespaces: on loopback every node shares one link');
      namespaces.heal(i);
    },
    close,
  };
}

function modeFromEnv(): 'auto' | ClusterMode {
  const env = process.env['PLUME_CLUSTER_MODE'];
  if (env === undefined || env === '' || env === 'auto') return 'auto';
  if (env === 'netns' || env === 'loopback') return env;
  throw new TypeError(`PLUME_CLUSTER_MODE must be auto, netns or loopback, got '${env}'`);
}

function discoveryFromEnv(): 'peer' | 'redis' | undefined {
  const env = process.env['PLUME_CLUSTER_DISCOVERY'];
  if (env === undefined || env === '') return undefined;
  if (env === 'redis' || env === 'peer') return env;
  throw new TypeError(`PLUME_CLUSTER_DISCOVERY must be peer or redis, got '${env}'`);
}

function pickMode(wanted: 'auto' | ClusterMode): { mode: ClusterMode; reason: string } {
  if (wanted === 'loopback') return { mode: 'loopback', reason: 'loopback, as asked (mode loopback)' };
  const why = netnsUnavailable();
  if (why === undefined) return { mode: 'netns', reason: 'network namespaces' };
  if (wanted === 'netns') throw new Error(`mode netns was asked for, but ${why}`);
  return { mode: 'loopback', reason: `loopback: ${why}` };
}

interface NodeSpec {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly address: string;
  readonly launcher: readonly string[];
  readonly args: readonly string[];
  readonly peers: () => readonly string[];
}

/** One `plume up` process; its port is picked at the first start and kept, so its URL survives a restart. */
class NodeProcess implements ClusterNode {
  readonly #spec: NodeSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #port = 0;
  #stderr = '';

  constructor(spec: NodeSpec) {
    this.#spec = spec;
  }

  get name(): string {
    return this.#spec.name;
  }
  get namespace(): string | undefined {
    return this.#spec.namespace;
  }
  get address(): string {
    return this.#spec.address;
  }
  get url(): string {
    return `http://${this.#spec.address}:${this.#port}`;
  }
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }
  get id(): string {
    return `${hostname()}-${this.#child?.pid ?? 0}`;
  }
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }
  stderr(): string {
    return this.#stderr;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`node ${this.name} is running`);
    const [command, ...rest] = [
      ...this.#spec.launcher,
      process.execPath,
      '--disable-warning=ExperimentalWarning',
      MAIN,
      'up',
      '--host',
      this.#spec.address,
      '--port',
      String(this.#port),
      ...this.#spec.args,
      ...this.#spec.peers(),
    ] as [string, ...string[]];
    this.#stderr = '';
    const child = spawn(command, rest, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = once(child, 'exit');
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.#stderr += c));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(`printed no URL within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      const fail = (why: string): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`node ${this.name} (plume up in ${this.namespace ?? 'loopback'}) ${why}: ${this.#stderr.trim()}`));
      };
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const line = out.split('\n').find((l) => l.startsWith('http://'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(line.trim());
      });
      child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before printing its URL`));
      child.once('error', (err) => fail(`could not start: ${err.message}`));
    });
    const port = Number(new URL(url).port);
    if (this.#port !== 0 && port !== this.#port) throw new Error(`node ${this.name} came back on port ${port}, not ${this.#port}`);
    this.#port = port;
  }

  /** `signal`, then after `graceMs` SIGKILL; resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  restart(): Promise<void> {
    return this.start();
  }
}

let installed = false;

/** Kill every live node and Redis by PID and delete the namespaces, synchronously (an 'exit' handler cannot wait). */
function teardownNow(): void {
  for (const entry of live) {
    for (const pid of entry.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A namespace whose processes are still dying is freed by the kernel once they are gone.
    entry.namespaces?.delete();
    rmSync(entry.dataDirs, { recursive: true, force: true });
  }
  live.clear();
}

function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', teardownNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      teardownNow();
      process.removeListener(signal, onSignal);
      // With this listener gone, the signal's default action (or the program's own listener) applies again.
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

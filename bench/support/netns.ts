/**
 * Linux network namespaces joined by one bridge, for the multi-host harness (bench/support/cluster.ts): each
 * namespace gets its loopback and one veth whose other end is a port of the bridge, and an address in a
 * private /24 of 10.213.0.0/16 that no interface of this machine uses yet. The bridge lives in the root
 * namespace and holds the subnet's `.254`, so the harness itself (tests, the benchmark's client) reaches the
 * nodes; traffic between namespaces crosses two veths and the bridge, the path packets take between
 * containers on one host. Nothing is routed beyond the subnet: the namespaces have no default route.
 *
 * Every name carries this process's PID (`plume-<pid>-<k>-<label>`, `pb<pid>k<k>`), so concurrent runs never
 * collide and a later run deletes what a killed run left behind (its PID no longer exists). Setup runs `ip`
 * synchronously: it takes milliseconds, and the teardown must also run from a process 'exit' handler.
 */
import { execFileSync } from 'node:child_process';

export interface Namespaces {
  /** One namespace per label, in order. */
  readonly names: readonly string[];
  /** The address of each namespace's veth, in order. */
  readonly addresses: readonly string[];
  /** The bridge's address in the root namespace (where the harness runs). */
  readonly hostAddress: string;
  readonly subnet: string;
  readonly bridge: string;
  /** The command prefix that runs a program inside namespace `i` (`ip netns exec NAME`; it execs, the PID is the program's). */
  launcher(i: number): string[];
  /**
   * Takes namespace `i`'s bridge port down: its packets are dropped from then on, with no FIN or RST to
   * anyone, as when a host loses power or its network (a killed process on a live host closes its sockets).
   */
  cut(i: number): void;
  /** Brings namespace `i`'s bridge port up again after `cut`: the host is back on the network. */
  heal(i: number): void;
  /** Deletes the namespaces (their veths go with them) and the bridge; safe to call twice. */
  delete(): void;
}

const PREFIX = 'plume-';
let made = 0;

/** Why namespaces cannot be made here, or undefined when they can (checked by making and deleting one). */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add): this process is not root';
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    ip(['netns', 'add', probe]);
  } catch (err) {
    return `cannot make a network namespace: ${(err as Error).message}`;
  }
  try {
    ip(['netns', 'del', probe]);
  } catch {
    // made but not deletable: report it rather than leak more
    return `made network namespace ${probe} but could not delete it`;
  }
  return undefined;
}

/** Makes one namespace per label (labels are single lowercase letters or digits) on a fresh bridge. */
export function makeNamespaces(labels: readonly string[]): Namespaces {
  if (labels.length < 1 || labels.length > 16) throw new RangeError(`between 1 and 16 namespaces, got ${labels.length}`);
  for (const l of labels) if (!/^[a-z0-9]$/.test(l)) throw new TypeError(`a namespace label is one letter or digit, got '${l}'`);
  reapStale();
  const k = ++made;
  const tag = `${process.pid}k${k}`;
  // Interface names hold at most 15 bytes: pb + pid (≤ 7 digits) + k + n, and one more letter and index for veths.
  const bridge = `pb${tag}`;
  const octet = freeOctet();
  const subnet = `10.213.${octet}.0/24`;
  const names = labels.map((l) => `${PREFIX}${process.pid}-${k}-${l}`);
  const addresses = labels.map((_, i) => `10.213.${octet}.${i + 1}`);
  const hostAddress = `10.213.${octet}.254`;
  let deleted = false;
  const remove = (): void => {
    if (deleted) return;
    deleted = true;
    for (const name of names) quietly(['netns', 'del', name]);
    quietly(['link', 'del', bridge]);
  };
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${hostAddress}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    names.forEach((name, i) => {
      const outside = `pv${tag}h${i}`;
      const inside = `pv${tag}n${i}`;
      ip(['netns', 'add', name]);
      ip(['-n', name, 'link', 'set', 'lo', 'up']);
      ip(['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
      ip(['link', 'set', inside, 'netns', name]);
      ip(['link', 'set', outside, 'master', bridge, 'up']);
      ip(['-n', name, 'addr', 'add', `${addresses[i]}/24`, 'dev', inside]);
      ip(['-n', name, 'link', 'set', inside, 'up']);
    });
  } catch (err) {
    remove();
    throw err;
  }
  return {
    names,
    addresses,
    hostAddress,
    subnet,
    bridge,
    launcher: (i) => ['ip', 'netns', 'exec', names[i]!],
    cut: (i) => void ip(['link', 'set', `pv${tag}h${i}`, 'down']),
    heal: (i) => void ip(['link', 'set', `pv${tag}h${i}`, 'up']),
    delete: remove,
  };
}

/** A third octet of 10.213.X.0/24 that no interface here holds an address in (a concurrent run has its own). */
function freeOctet(): number {
  const used = new Set([...ip(['-o', '-4', 'addr', 'show']).matchAll(/inet 10\.213\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = (process.pid % 200) + 1;
  for (let i = 0; i < 250; i++) {
    const octet = ((start + i) % 250) + 1;
    if (!used.has(octet)) return octet;
  }
  throw new Error('every 10.213.X.0/24 subnet is in use on this machine');
}

/** Deletes namespaces and bridges that a run whose process is gone left behind (killed before its exit handler ran). */
function reapStale(): void {
  const dead = (pid: string): boolean => {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  for (const m of ip(['netns', 'list']).matchAll(/^plume-(\d+)-(\d+|probe)(-[a-z0-9])?\b/gm)) {
    if (dead(m[1]!)) quietly(['netns', 'del', m[0]]);
  }
  for (const m of ip(['-o', 'link', 'show', 'type', 'bridge']).matchAll(/^\d+: (pb(\d+)k\d+):/gm)) {
    if (dead(m[2]!)) quietly(['link', 'del', m[1]!]);
  }
}

function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

function quietly(args: readonly string[]): void {
  try {
    ip(args);
  } catch {
    // already gone
  }
}

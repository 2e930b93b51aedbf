/**
 * Where a node's peer servers are reached (docs/cluster.md, Membership): the address it advertises to the
 * other members, and the Unix socket files that nodes killed on this host left behind.
 */
import { readdir, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Matches the local transport's default socket path (src/data/transport/local.ts): its owner's pid first. */
const SOCKET_FILE = /^plume-(\d+)-[0-9a-f]{12}\.sock$/;

/**
 * Deletes the peer sockets in `dir` whose process no longer runs. A node killed with SIGKILL cannot unlink
 * its socket, and each restart would add one more file; a live process's socket (any user's: EPERM) stays.
 * Returns the paths removed.
 */
export async function removeStaleSockets(dir: string = tmpdir()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // no temp dir to sweep: nothing was left there either
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = SOCKET_FILE.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || alive(Number(pid))) continue;
    const path = join(dir, name);
    await rm(path, { force: true });
    removed.push(path);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * The host peers connect to: `advertise` (--advertise, PLUME_ADVERTISE_ADDRESS) if given, else the listening
 * host unless it is a wildcard. A wildcard is where a server listens, not where a client connects, so a node
 * on 0.0.0.0 advertises its first non-internal IPv4 address (for `::`, else an IPv6 one), or refuses when it has none.
 */
export function advertisedHost(host: string, advertise?: string): string {
  if (advertise !== undefined) {
    if (WILDCARDS.has(advertise)) throw new RangeError(`--advertise must be an address peers can reach, not '${advertise}'`);
    return advertise;
  }
  if (!WILDCARDS.has(host)) return host;
  // IPv4 first; an IPv6 link-local address needs a scope a peer does not know.
  const external = Object.values(networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .filter((a) => !a.internal && !a.address.startsWith('fe80:'));
  const chosen = external.find((a) => a.family === 'IPv4') ?? (host === '0.0.0.0' ? undefined : external[0]);
  if (chosen) return chosen.address;
  throw new RangeError(`the node listens on ${host} and this host has no external address: give the one peers reach with --advertise`);
}

/**
 * The cluster side of `plume up` (docs/cluster.md): joining the members on Redis, and the drain on SIGTERM.
 * The drain's order is what keeps calls from failing: first /readyz answers 503 and the node leaves the
 * membership (peers stop sending it calls), then it waits a moment for them to hear it, then the gateway
 * stops accepting and finishes what it accepted, then the calls peers sent finish, all within one bound.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerLinks, PeerService } from '../cluster/links.ts';
import { discoverMembers } from '../cluster/membership-discovery.ts';
import { Membership, type ReadinessCheck } from '../cluster/membership.ts';
import type { Plume } from '../runtime.ts';

export interface JoinOptions {
  readonly redis: string;
  readonly optional: boolean;
  readonly plume: Plume;
  readonly service: PeerService;
  readonly links: PeerLinks;
  readonly gateway: string;
  readonly log: (line: string) => void;
}

/** Registers the node and links it to every member; rejects as `Membership.join` does. */
export async function joinCluster(options: JoinOptions): Promise<Membership> {
  const discovery = discoverMembers(options.links, options.log);
  const membership = await Membership.join({
    redisUrl: options.redis,
    info: options.service.info,
    gateway: options.gateway,
    functions: () => options.plume.list().map((f) => f.name),
    optional: options.optional,
    onMembers: discovery.update,
    log: options.log,
  });
  options.log(
    membership.registered
      ? `membership: registered as ${membership.id} in ${options.redis} (${membership.members.length} other members)`
      : `membership: running single-node as ${membership.id} (--redis-optional)`,
  );
  return membership;
}

export interface DrainParts {
  readonly membership: Membership | undefined;
  readonly gateway: { close(): Promise<void> };
  readonly service: PeerService;
}

/**
 * How long a leaving node keeps serving after its leave was announced, before it stops accepting: the
 * time its peers need to hear the announcement and stop picking it. A call they sent meanwhile still runs.
 */
export const LEAVE_NOTICE_MS = 500;

/** Drains the node; resolves false if calls were still running when `timeoutMs` ran out. */
export async function drain(parts: DrainParts, timeoutMs: number, log: (line: string) => void): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  const left = (): number => Math.max(0, deadline - performance.now());
  if (parts.membership) {
    await parts.membership.leave();
    log(`membership: left the cluster as ${parts.membership.id}`);
    await sleep(Math.min(LEAVE_NOTICE_MS, left()));
  }
  const timedOut = Symbol('timeout');
  const bound = <T>(work: Promise<T>): Promise<T | typeof timedOut> => {
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), left())));
    return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
  };
  if ((await bound(parts.gateway.close())) === timedOut) return false;
  return parts.service.drain(left());
}

/**
 * The readiness checks of a node: not draining and, when it needs Redis (`--redis` without
 * `--redis-optional`), registered with Redis reachable. A node that may run alone is ready alone.
 */
export function readinessChecks(draining: () => boolean, membership: () => Membership | undefined, needsRedis: boolean): ReadinessCheck[] {
  const accepting: ReadinessCheck = { name: 'accepting', check: () => !draining() || 'draining: the node is stopping' };
  if (!needsRedis) return [accepting];
  const of = (i: number) => (): true | string => membership()?.readiness()[i]!.check() ?? 'not registered yet: joining';
  return [accepting, { name: 'registered', check: of(0) }, { name: 'redis reachable', check: of(1) }];
}

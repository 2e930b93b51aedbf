/**
 * Discovery (docs/cluster.md, Membership): keeps a node's peer links equal to the members Redis lists.
 * Every member is linked at the addresses of its own record, by locality (a Unix socket on the same host
 * id, TCP otherwise); a member whose record is gone is unlinked, and one whose record changed owner (it
 * restarted under the same id) is linked anew.
 */
import type { PeerLinks } from './links.ts';
import type { MemberRecord } from './membership.ts';

export interface MemberDiscovery {
  /** Pass to `Membership.join` as `onMembers`. */
  readonly update: (members: readonly MemberRecord[]) => Promise<void>;
}

export function discoverMembers(links: PeerLinks, log: (line: string) => void = () => {}): MemberDiscovery {
  /** Member id → the record it was linked by. */
  const linked = new Map<string, MemberRecord>();
  /** Member id → the owner token of a record that could not be linked (logged once, tried every round). */
  const failed = new Map<string, string>();

  const link = async (m: MemberRecord): Promise<void> => {
    try {
      const peer = await links.linkMember(m, m.gateway);
      linked.set(m.node, m);
      failed.delete(m.node);
      log(`membership: linked to member ${m.node} over ${peer.mode} (${peer.functions.length} functions)`);
    } catch (err) {
      if (failed.get(m.node) !== m.token) log(`membership: cannot link to member ${m.node}: ${(err as Error).message}`);
      failed.set(m.node, m.token);
    }
  };

  return {
    update: async (members) => {
      const current = new Set(members.map((m) => m.node));
      for (const node of [...linked.keys()]) {
        if (current.has(node)) continue;
        linked.delete(node);
        links.unlink(node);
        log(`membership: member ${node} left`);
      }
      for (const node of failed.keys()) if (!current.has(node)) failed.delete(node);
      let changed = false;
      await Promise.all(
        members.map(async (m) => {
          const known = linked.get(m.node);
          if (!known || known.token !== m.token) return link(m);
          if (known.functions.join() !== m.functions.join()) changed = true;
          linked.set(m.node, m);
        }),
      );
      // A member deployed or removed something: ask the peers again what they serve.
      if (changed) await links.refresh();
    },
  };
}

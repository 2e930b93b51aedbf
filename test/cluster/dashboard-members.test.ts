/**
 * The dashboard's nodes view on a cluster (docs/ui.md, docs/cluster.md): a node on Redis lists every member
 * it discovered, with no `--peer`, and drops one that died once its membership key expires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { killAll, startNode, until, type ClusterNode } from './membership-support.ts';

const ADMIN = 'dashboard-admin-token';

interface DashboardPeer {
  readonly node: string;
  readonly mode: string;
  readonly cores?: number;
  readonly freeMemoryBytes?: number;
  readonly gateway?: string | null;
}

async function dashboardPeerList(node: ClusterNode): Promise<DashboardPeer[]> {
  const res = await fetch(`${node.url}/ui/api/node`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { node: string; peers: DashboardPeer[] };
  assert.equal(body.node, 'ui-a');
  return body.peers;
}

async function dashboardPeers(node: ClusterNode): Promise<string[]> {
  return (await dashboardPeerList(node)).map((p) => `${p.node}:${p.mode}`).sort();
}

describe('the dashboard on a cluster', () => {
  let redis: RedisServer;
  const nodes: ClusterNode[] = [];

  before(async () => {
    redis = await startRedis();
    nodes.push(
      ...(await Promise.all([
        startNode(redis.url, 'ui-a', '--admin-token', ADMIN),
        startNode(redis.url, 'ui-b'),
        startNode(redis.url, 'ui-c'),
      ])),
    );
  });
  after(async () => {
    await killAll(nodes);
    await redis?.stop();
  });

  it('should list every discovered member in the nodes view, and drop one that died', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    // Different host ids: the members are reached over TCP.
    await until('a lists b and c', async () => (await dashboardPeers(a)).join() === 'ui-b:networked,ui-c:networked');
    // Each member's own figures, as its membership key says: its cores, its free memory, its gateway.
    for (const peer of await dashboardPeerList(a)) {
      assert.ok(Number.isInteger(peer.cores) && peer.cores! >= 1, `${peer.node}: cores ${peer.cores}`);
      assert.ok(Number.isFinite(peer.freeMemoryBytes) && peer.freeMemoryBytes! > 0, `${peer.node}: free ${peer.freeMemoryBytes}`);
      assert.equal(peer.gateway, nodes.find((n) => n.id === peer.node)?.url, `${peer.node}: gateway`);
    }
    await b.kill();
    await until('a no longer lists b', async () => (await dashboardPeers(a)).join() === 'ui-c:networked', 15_000);
  });
});

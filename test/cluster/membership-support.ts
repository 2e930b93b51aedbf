/**
 * Shared by the membership and failover tests: `plume up` nodes on one Redis, each with its own host id
 * (so they link over TCP, as separate hosts would), and what Redis and their gateways say of the cluster.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startUp, type UpNode } from '../support/cli.ts';

export interface ClusterNode extends UpNode {
  readonly id: string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  exited(): Promise<number | null>;
}

/** `plume up --redis URL --node-id ID --host-id host-ID` (one worker). */
export async function startNode(redisUrl: string, id: string, ...args: string[]): Promise<ClusterNode> {
  const node = await startUp(['--workers', '1', '--redis', redisUrl, '--node-id', id, '--host-id', `host-${id}`, ...args]);
  const exit = new Promise<number | null>((resolve) => {
    if (node.child.exitCode !== null) resolve(node.child.exitCode);
    else node.child.once('exit', (code) => resolve(code));
  });
  return {
    ...node,
    id,
    exited: () => exit,
    kill: async () => {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
      await exit;
    },
    stop: async () => {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
      return exit;
    },
  };
}

/** Stops every node still running (SIGKILL: a test that failed must not leave processes behind). */
export async function killAll(nodes: readonly (ClusterNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.kill()));
}

/** The member ids Redis holds keys for. */
export async function memberIds(redis: Redis): Promise<string[]> {
  const keys = await redis.keys('plume:cluster:node:*');
  return keys.map((k) => k.slice('plume:cluster:node:'.length)).sort();
}

/** The node ids a gateway says it links to. */
export async function peerIds(url: string): Promise<string[]> {
  const res = await fetch(`${url}/system/peers`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { node: string }[]).map((p) => p.node).sort();
}

/** Polls `check` every 50 ms until it returns true; fails with `what` after `withinMs`. */
export async function until(what: string, check: () => Promise<boolean>, withinMs = 10_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) assert.fail(`timed out after ${withinMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export async function deploy(url: string, name: string, module: string, query = ''): Promise<void> {
  const res = await fetch(`${url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module) });
  assert.equal(res.status, 201, await res.text());
}

/** POST /function/<name>: its status and body text. */
export async function call(url: string, name: string, input: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/function/${name}`, { method: 'POST', body: input });
  return { status: res.status, body: await res.text() };
}

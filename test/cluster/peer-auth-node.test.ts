/**
 * Peer security on real `plume up` nodes (docs/dataplane.md, Peer security): a node off loopback needs a
 * cluster secret; 1,000 unauthenticated attempts on its peer ports run nothing and leave its memory as it
 * was; invoke tokens and admission limits hold for calls over peers as over HTTP.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PeerLinks, servePeers, type NodeInfo } from '../../src/cluster/links.ts';
import { PeerClient } from '../../src/cluster/peer.ts';
import { Handshake, secretKey } from '../../src/data/transport/handshake.ts';
import { encodeHeader } from '../../src/data/transport/frame.ts';
import { Plume } from '../../src/runtime.ts';
import { example, guest, rejection, root, text } from '../helpers.ts';
import { CLI } from '../support/cli.ts';
import { closedWithin, dial, requestFrame } from './peer-auth-raw.ts';

const SECRET = randomBytes(32).toString('hex');
const TOKEN = 'invoke-token-of-guarded';
const MB = 1024 * 1024;

interface Node {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** `plume up` with `env` added; resolves with its URL, or rejects with its exit code and stderr. */
async function up(args: string[], env: Record<string, string> = {}): Promise<Node> {
  const child = spawn(process.execPath, [...CLI, 'up', '--port', '0', '--workers', '1', ...args], {
    cwd: root,
    env: { ...process.env, PLUME_CLUSTER_SECRET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = once(child, 'close');
  const [first] = (await Promise.race([once(child.stdout.setEncoding('utf8'), 'data'), exited])) as [string | number];
  if (typeof first !== 'string') throw new Error(`exit ${first}: ${stderr}`);
  return {
    url: first.trim(),
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function deploy(url: string, name: string, module: string, headers: Record<string, string> = {}, query = ''): Promise<void> {
  const res = await fetch(`${url}/system/functions/${name}${query}`, { method: 'POST', body: readFileSync(module), headers });
  assert.equal(res.status, 201, await res.text());
}

async function call(url: string, name: string, input: string): Promise<string> {
  const res = await fetch(`${url}/function/${name}`, { method: 'POST', body: input });
  return res.text();
}

/** The error a start that must fail fails with. */
async function failure(start: Promise<Node>): Promise<Error> {
  try {
    const node = await start;
    await node.stop();
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: 'the node started' });
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

describe('plume up --cluster-secret', () => {
  it('should refuse to listen off loopback without a secret, and a short secret', async () => {
    const bare = await failure(up(['--host', '0.0.0.0']));
    assert.match(bare.message, /--host 0\.0\.0\.0 opens the peer port.*--cluster-secret or \$PLUME_CLUSTER_SECRET.*openssl rand -hex 32/);
    const short = await failure(up(['--cluster-secret', 'too-short']));
    assert.match(short.message, /at least 16 bytes, got 9/);
  });

  describe('a node with a secret', () => {
    let node: Node;
    let info: NodeInfo;
    before(async () => {
      node = await up(['--queue', '0'], { PLUME_CLUSTER_SECRET: SECRET });
      await deploy(node.url, 'counter', guest('state.wasm'));
      await deploy(node.url, 'guarded', example('c-echo/echo.wasm'), { 'x-plume-invoke-token': TOKEN });
      await deploy(node.url, 'slow', guest('conformance-c.wasm'), {}, '?concurrency=1');
      info = (await (await fetch(`${node.url}/system/node`)).json()) as NodeInfo;
    });
    after(() => node?.stop());

    it('should close 1,000 unauthenticated attempts, run nothing, and not grow (RSS < 10 MB)', async () => {
      const plain = requestFrame('invoke:counter', Buffer.from('incr:calls'));
      const wrongKey = secretKey(randomBytes(32).toString('hex'));
      const attempt = async (i: number, stall = false): Promise<boolean> => {
        const socket = dial(i % 2 ? info.networked : info.local);
        const kind = stall ? 4 : i % 4;
        if (kind === 0)
          socket.write(plain); // no secret at all
        else if (kind === 1) {
          // The whole handshake, with a wrong secret: the node checks our proof and closes.
          const handshake = new Handshake('client', wrongKey, (b) => socket.write(b));
          socket.on('data', (chunk: Buffer) => {
            try {
              handshake.push(chunk);
            } catch {
              // the node's proof fails our check too: we wait for its close all the same
            }
          });
          await once(socket, 'connect');
          handshake.start();
        } else if (kind === 2)
          socket.write(randomBytes(4096)); // garbage
        else if (kind === 3)
          socket.write(encodeHeader({ type: 1, aux: 0, id: 1, length: 0xffff_fff0 })); // a 4 GiB claim
        else socket.write(Buffer.from('PAUT\x01')); // a handshake begun and never finished
        return closedWithin(socket, 15_000);
      };
      const rounds = async (from: number, count: number): Promise<boolean[]> => {
        // Every tenth begins a handshake and stalls: those all wait out the handshake timeout together.
        const stalled = Array.from({ length: count / 10 }, (_, j) => attempt(from + j * 10 + 4, true));
        const results: boolean[] = [];
        const quick = Array.from({ length: count }, (_, j) => from + j).filter((i) => i % 10 !== 4);
        for (let at = 0; at < quick.length; at += 50) results.push(...(await Promise.all(quick.slice(at, at + 50).map((i) => attempt(i)))));
        return [...results, ...(await Promise.all(stalled))];
      };
      // Warm-up, as many again: the heap grows to what this traffic needs once (young generation, sockets'
      // buffers); what the next 1,000 add on top is what they keep.
      const start = rssKb(node.child.pid!);
      await rounds(0, 1000);
      const before = rssKb(node.child.pid!);
      const closed = await rounds(1000, 1000);
      const growthKb = rssKb(node.child.pid!) - before;
      assert.equal(closed.filter((c) => !c).length, 0, 'every attempt was closed by the node');
      assert.ok(growthKb < 10 * 1024, `RSS grew by ${growthKb} kB over 1,000 attempts`);
      process.stdout.write(
        `# RSS over 1,000 unauthenticated attempts: +${growthKb} kB from ${before} kB (warm-up 1,000: +${before - start} kB)\n`,
      );
      assert.equal(await call(node.url, 'counter', 'get:calls'), 'noent', 'no attempt ran the function');
      // The count can move: a client with the secret runs it once.
      const client = await PeerClient.connect(info.networked, 'networked', { secret: SECRET });
      try {
        assert.equal(text(await client.invoke('counter', 'incr:calls', { caller: { kind: 'node' } })), '1');
      } finally {
        await client.close();
      }
      assert.equal(await call(node.url, 'counter', 'get:calls'), '1');
    });

    it('should serve a client with the secret over local and networked, large bodies included', async () => {
      for (const [mode, address] of [
        ['local', info.local],
        ['networked', info.networked],
      ] as const) {
        const client = await PeerClient.connect(address, mode, { secret: SECRET });
        try {
          const big = new Uint8Array(3 * MB).map((_, i) => i % 253);
          const out = await client.invoke('guarded', big, { caller: { kind: 'client', token: TOKEN } });
          assert.equal(Buffer.compare(out, Uint8Array.from(big).reverse()), 0, `${mode}: the 3 MB body came back reversed`);
        } finally {
          await client.close();
        }
        assert.equal((await rejection(PeerClient.connect(address, mode, { secret: SECRET.replace(/./, 'x') }))).code, 'PLUME_EPEER');
      }
    });

    it("should enforce a function's invoke token over peers", async () => {
      const client = await PeerClient.connect(info.networked, 'networked', { secret: SECRET });
      try {
        const missing = await rejection(client.invoke('guarded', 'x', { caller: { kind: 'client' } }));
        assert.equal(missing.code, 'PLUME_EAUTH');
        const direct = await rejection(client.invoke('guarded', 'x'));
        assert.equal(direct.code, 'PLUME_EAUTH', 'no credential at all counts as a client without a token');
        const wrong = await rejection(client.invoke('guarded', 'x', { caller: { kind: 'client', token: 'nope' } }));
        assert.equal(wrong.code, 'PLUME_EFORBIDDEN');
        assert.doesNotMatch(wrong.message, /nope/, 'the token is never echoed');
        assert.equal(text(await client.invoke('guarded', 'right', { caller: { kind: 'client', token: TOKEN } })), 'thgir');
        assert.equal(text(await client.invoke('guarded', 'chained', { caller: { kind: 'node' } })), 'deniahc');
      } finally {
        await client.close();
      }
    });

    it('should carry the caller token from a linked runtime, and admit peer calls like HTTP (429 past the queue)', async () => {
      const plume = await Plume.start({ workers: 1 });
      const service = await servePeers(plume, { secret: SECRET });
      const links = new PeerLinks({ self: service.info, secret: SECRET, onChange: () => plume.remoteChanged(), refreshMs: 0 });
      try {
        await links.link(node.url);
        plume.link(links);
        assert.equal((await rejection(plume.invoke('guarded', 'x', { client: {} }))).code, 'PLUME_EAUTH');
        assert.equal((await rejection(plume.invoke('guarded', 'x', { client: { token: 'nope' } }))).code, 'PLUME_EFORBIDDEN');
        assert.equal(text(await plume.invoke('guarded', 'ok', { client: { token: TOKEN } })), 'ko');
        assert.equal(text(await plume.invoke('guarded', 'own call')), 'llac nwo', "the node's own call (a chained call, a step)");
        // concurrency 1 and --queue 0: while one call sleeps, a second is refused at the door.
        const outcomes = await Promise.allSettled([plume.invoke('slow', 'sleep:1500'), plume.invoke('slow', 'sleep:1500')]);
        const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code);
        assert.deepEqual(refused, ['PLUME_EBUSY']);
      } finally {
        await links.close();
        await service.close();
        await plume.close();
      }
    });

    it('should not link a node with another secret', async () => {
      const error = await failure(up(['--peer', node.url], { PLUME_CLUSTER_SECRET: randomBytes(32).toString('hex') }));
      assert.match(error.message, /^exit 1: .*cannot reach peer .*peer authentication failed/ms);
    });
  });
});

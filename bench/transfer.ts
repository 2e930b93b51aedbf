/**
 * `plume bench transfer`: CWASI's sequential A→B experiment at its payload sizes. Latency is CWASI's
 * definition: from A's output being complete until B can read all of it, measured inside the guest
 * (bench/guests/transfer.c) with the monotonic clock.
 * embedded/by-ref     B gets A's output by reference and reads 1 KB of it
 * embedded/full-read  B reads every byte into its own memory
 * local/full-read     B runs in a peer process reached over a Unix socket and reads every byte
 * networked/full-read the same over TCP on loopback
 * tcp-raw             the same bytes over plain Node TCP on loopback to a child process that reads them
 *                     into a reused buffer and answers with a byte (tcp-raw.ts): the link's own cost
 * memcpy              one TypedArray copy of the same size in the same run: the physical baseline
 * In the peer cases A (`produce`) runs here and its complete output is a Uint8Array; the clock starts
 * then and stops when the peer answers, which it does once B (`consume_full`) has read every byte.
 */
import { fileURLToPath } from 'node:url';
import { PeerClient, startPeerProcess, type PeerProcess } from '../src/cluster/index.ts';
import { Plume } from '../src/runtime.ts';
import { CWASI_SIZES_MB } from './cwasi.ts';
import { latency, type CaseResult } from './report.ts';
import { openRawLink, type RawLink } from './tcp-raw.ts';

const GUEST = fileURLToPath(new URL('./guests/transfer.wasm', import.meta.url));
const MB = 1024 * 1024;

export interface TransferOptions {
  readonly quick?: boolean;
  readonly progress?: (label: string) => void;
}

export async function transfer(opts: TransferOptions = {}): Promise<CaseResult[]> {
  const sizes = opts.quick ? [2, 10] : CWASI_SIZES_MB;
  const results: CaseResult[] = [];
  const limits = { maxOutputBytes: 128 * MB, memoryMb: 64, timeoutMs: 60_000 };
  const plume = await Plume.start({ workers: 1 });
  const peers: Peer[] = [];
  let raw: RawLink | undefined;
  try {
    await plume.deploy('transfer', GUEST, { limits });
    await plume.deploy('produce', GUEST, { entry: 'produce', limits });
    for (const mode of ['local', 'networked'] as const) peers.push(await startPeer(mode, limits));
    raw = await openRawLink(Math.max(...sizes) * MB);
    for (const size_mb of sizes) {
      const n = opts.quick ? 3 : size_mb <= 20 ? 40 : 15;
      opts.progress?.(`${size_mb} MB × ${n}`);
      for (const [name, mode] of [
        ['embedded/by-ref', 'ref'],
        ['embedded/full-read', 'full'],
      ] as const) {
        const samples: number[] = [];
        await plume.invoke('transfer', `${size_mb * MB}:${mode}`); // warm-up: instances and pools
        for (let i = 0; i < n; i++) {
          const ns = Number(new TextDecoder().decode(await plume.invoke('transfer', `${size_mb * MB}:${mode}`)));
          samples.push(ns / 1e6);
        }
        results.push({ case: name, size_mb, ...latency(samples) });
      }
      for (const peer of peers) {
        await peerFullRead(plume, peer.client, size_mb * MB); // warm-up: connection buffers, instances
        const samples = await sequence(n, () => peerFullRead(plume, peer.client, size_mb * MB));
        results.push({ case: `${peer.client.mode}/full-read`, size_mb, ...latency(samples) });
      }
      const link = raw;
      await rawSend(plume, link, size_mb * MB);
      results.push({ case: 'tcp-raw', size_mb, ...latency(await sequence(n, () => rawSend(plume, link, size_mb * MB))) });
      results.push({ case: 'memcpy', size_mb, ...latency(memcpy(size_mb * MB, n)) });
    }
  } finally {
    await raw?.close();
    for (const peer of peers) {
      await peer.client.close();
      await peer.child.stop();
    }
    await plume.close();
  }
  return results;
}

interface Peer {
  readonly child: PeerProcess;
  readonly client: PeerClient;
}

/** A peer process with one worker (this is a 2-core machine) and B deployed in it. */
async function startPeer(mode: 'local' | 'networked', limits: { timeoutMs: number }): Promise<Peer> {
  const child = await startPeerProcess({ mode, workers: 1 });
  try {
    await child.deploy('consume', GUEST, { entry: 'consume_full', limits });
    return { child, client: await PeerClient.connect(child.address, mode, { timeoutMs: limits.timeoutMs }) };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** A writes `bytes` here; the clock runs from its complete output until the peer's B has read all of it. */
async function peerFullRead(plume: Plume, client: PeerClient, bytes: number): Promise<number> {
  const output = await plume.invoke('produce', String(bytes));
  if (output.length !== bytes) throw new Error(`produce wrote ${output.length} bytes, not ${bytes}`);
  const t0 = performance.now();
  await client.invoke('consume', output);
  return performance.now() - t0;
}

/** The same bytes as peerFullRead's, from the same producer, over plain TCP (tcp-raw.ts). */
async function rawSend(plume: Plume, link: RawLink, bytes: number): Promise<number> {
  const output = await plume.invoke('produce', String(bytes));
  const t0 = performance.now();
  await link.send(output);
  return performance.now() - t0;
}

async function sequence(n: number, sample: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await sample());
  return samples;
}

function memcpy(bytes: number, n: number): number[] {
  const src = new Uint8Array(bytes).map((_, i) => i & 0xff);
  const dst = new Uint8Array(bytes);
  dst.set(src); // fault in the destination first: the guest's buffer is warm too
  return Array.from({ length: n }, () => {
    const t = performance.now();
    dst.set(src);
    return performance.now() - t;
  });
}

/**
 * The trace guest's input (bench/guests/trace-fn.c), written by the load generator and read by the hosts
 * that run successors themselves (process-per-function here; workerd's worker reads it in plain JS):
 * "<rounds> <wait_ms> <kb> <n>\n", then n successors, each "<name> <len>\n" and <len> bytes of its input.
 */
import type { CallNode, Work } from './workload.ts';

const encoder = new TextEncoder();

/**
 * The guest's input (bench/guests/trace-fn.c): its own work, then its successors' inputs. `rounds` turns ms
 * of CPU into loop rounds; in `wait` mode the duration is a sleep instead; `hostWaits` leaves the sleep
 * to the host (workerd, whose guests cannot suspend); `withNext` false leaves successors to the host.
 */
export function encodeCall(node: CallNode, work: Work, roundsPerMs: number, hostWaits = false, withNext = true): Uint8Array {
  const rounds = work === 'cpu' ? Math.round(node.durationMs * roundsPerMs) : 0;
  const wait = work === 'wait' && !hostWaits ? Math.round(node.durationMs) : 0;
  const kids = withNext ? node.next.map((c) => encodeCall(c, work, roundsPerMs, hostWaits, withNext)) : [];
  const parts: Uint8Array[] = [encoder.encode(`${rounds} ${wait} ${node.kb} ${kids.length}\n`)];
  kids.forEach((k, i) => parts.push(encoder.encode(`${node.next[i]!.fn} ${k.length}\n`), k));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface DecodedCall {
  readonly rounds: number;
  readonly waitMs: number;
  readonly kb: number;
  readonly next: readonly { readonly fn: string; readonly input: Uint8Array }[];
}

const decoder = new TextDecoder();

/** Reads an input of encodeCall; throws on a malformed one. */
export function decodeCall(bytes: Uint8Array): DecodedCall {
  let pos = 0;
  const line = (): string => {
    const end = bytes.indexOf(10, pos);
    if (end < 0) throw new RangeError('trace call: a line has no end');
    const s = decoder.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const [rounds, waitMs, kb, n] = line().split(' ').map(Number) as [number, number, number, number];
  if (![rounds, waitMs, kb, n].every((v) => Number.isInteger(v) && v >= 0)) throw new RangeError('trace call: a bad header');
  const next = Array.from({ length: n }, () => {
    const [fn, len] = line().split(' ') as [string, string];
    const input = bytes.subarray(pos, pos + Number(len));
    pos += Number(len);
    return { fn, input };
  });
  return { rounds, waitMs, kb, next };
}

/** The input of the guest's own work only (its successors left to the host). */
export function ownWork(call: DecodedCall, hostWaits: boolean): Uint8Array {
  return encoder.encode(`${call.rounds} ${hostWaits ? 0 : call.waitMs} ${call.kb} 0\n`);
}

/**
 * The entry of a peer process (`startPeerProcess`): `node peer-main.ts --mode local|networked [--workers N]`.
 * Starts a Plume runtime and a PeerServer that accepts deploys on a fresh Unix socket or 127.0.0.1:0,
 * with the cluster secret in $PLUME_CLUSTER_SECRET if set, prints `{"address": …, "pid": …}` as one line on stdout, and closes on SIGTERM, SIGINT or the end of
 * stdin (its parent is gone).
 */
import { parseArgs } from 'node:util';
import { Plume } from '../runtime.ts';
import { PeerServer } from './peer.ts';

const { values } = parseArgs({ options: { mode: { type: 'string' }, workers: { type: 'string' } } });
const mode = values.mode;
if (mode !== 'local' && mode !== 'networked') throw new TypeError(`--mode must be 'local' or 'networked', got '${mode}'`);
const workers = values.workers === undefined ? undefined : Number(values.workers);
if (workers !== undefined && !(Number.isInteger(workers) && workers > 0))
  throw new RangeError(`--workers must be a positive integer, got '${values.workers}'`);

const plume = await Plume.start(workers === undefined ? {} : { workers });
const secret = process.env['PLUME_CLUSTER_SECRET'];
const server = new PeerServer(plume, { mode, allowDeploy: true, ...(secret ? { secret } : {}) });
const address = await server.listen();

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await server.close();
  await plume.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
process.stdin.on('end', () => void shutdown());
process.stdin.resume();

process.stdout.write(`${JSON.stringify({ address, pid: process.pid })}\n`);

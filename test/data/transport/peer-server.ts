/**
 * The server of the peer-death test, run in a child process so that it can be SIGKILLed:
 * `node peer-server.ts local|networked`. Prints `{"address": …}` once listening, then `responding` when
 * it starts answering `big` with 100 MB.
 */
import { createLocalServer } from '../../../src/data/transport/local.ts';
import { createNetworkedServer } from '../../../src/data/transport/networked.ts';

const create = process.argv[2] === 'local' ? createLocalServer : createNetworkedServer;
const big = new Uint8Array(100 * 1024 * 1024).fill(0x5a);
const server = create(async ({ method, body }) => {
  if (method === 'big') {
    process.stdout.write('responding\n');
    return big;
  }
  if (method === 'never-answered') return new Promise<Uint8Array>(() => {});
  return body;
});
const address = await server.listen();
process.stdout.write(`${JSON.stringify({ address })}\n`);

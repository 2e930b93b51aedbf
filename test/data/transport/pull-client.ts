/**
 * A client that sends one 100 MB body to be pulled, run in a child process so that it can be SIGKILLed
 * mid-pull: `node pull-client.ts local|networked ADDRESS`. Prints `sending` once the request is on its way.
 */
import { createLocalClient } from '../../../src/data/transport/local.ts';
import { createNetworkedClient } from '../../../src/data/transport/networked.ts';

const [mode, address] = process.argv.slice(2);
const client = (mode === 'local' ? createLocalClient : createNetworkedClient)({ timeoutMs: 60_000 });
await client.connect(address!);
const pending = client.request('big', new Uint8Array(100 * 1024 * 1024).fill(0x5a));
process.stdout.write('sending\n');
await pending.catch(() => {});

/** A real node for gateway tests: a runtime and its gateway on port 0, and raw-socket requests for malformed HTTP. */
import { connect } from 'node:net';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.ts';
import { Plume } from '../../src/runtime.ts';
import { example } from '../helpers.ts';

export interface TestNode {
  readonly plume: Plume;
  readonly gateway: Gateway;
  readonly url: string;
  close(): Promise<void>;
}

export async function startNode(options: GatewayOptions = {}): Promise<TestNode> {
  const plume = await Plume.start({ workers: 1 });
  const gateway = await startGateway(plume, { port: 0, ...options });
  return {
    plume,
    gateway,
    url: gateway.url,
    close: async () => {
      await gateway.close();
      await plume.close();
    },
  };
}

/** The dashboard tests' workflow: `both-ways` joins its input in upper case with its input reversed. */
export async function deployBothWays(plume: Plume): Promise<void> {
  const text = example('workflows/text.wasm');
  for (const fn of ['upper', 'reverse', 'join']) await plume.deploy(fn, text, { entry: fn });
  await plume.applyWorkflow({
    name: 'both-ways',
    steps: [
      { id: 'loud', function: 'upper' },
      { id: 'back', function: 'reverse' },
      { id: 'both', function: 'join', input: ['loud', 'back'] },
    ],
  });
}

/** The error body every refusal carries. */
export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  assert(res.headers.get('content-type')?.startsWith('application/json'), `expected JSON, got ${res.headers.get('content-type')}`);
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

/** Send bytes as they are (no client library to fix them up) and return the raw response text. */
export function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

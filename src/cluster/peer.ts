/**
 * Peers: one Plume process serving its functions to another over a transport (docs/dataplane.md, Peers).
 * A `PeerServer` answers `invoke:<name>` (body = input, answer = output) and, when allowed,
 * `deploy:<name>`; a `PeerClient` calls it and says what each call moved and copied. `startPeerProcess`
 * starts a peer in a child process, so tests and benchmarks exercise `local` and `networked` for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PlumeError } from '../errors.ts';
import { readFileOr } from '../read-file.ts';
import type { DeployOptions } from '../engine/compile.ts';
import type { FunctionInfo, Plume } from '../runtime.ts';
import {
  createEmbeddedClient,
  createEmbeddedServer,
  createLocalClient,
  createLocalServer,
  createNetworkedClient,
  createNetworkedServer,
  type ClientOptions,
  type RequestHandler,
  type RequestOptions,
  type ServerOptions,
  type Transfer,
  type TransportClient,
  type TransportMode,
  type TransportRequest,
  type TransportServer,
} from '../data/transport/index.ts';

const INVOKE = 'invoke:';
const DEPLOY = 'deploy:';
const FUNCTIONS = 'functions';

/** What a peer says of each function it serves (its catalog): enough for a caller to check an input's size. */
export interface PeerFunction {
  readonly name: string;
  readonly maxInputBytes: number;
  /** A stateful function's call is never retried on another node when its node dies (PLUME_EPEER_LOST). */
  readonly stateful: boolean;
}

const transports: Record<
  TransportMode,
  { server(handler: RequestHandler, options: ServerOptions): TransportServer; client(options: ClientOptions): TransportClient }
> = {
  embedded: { server: createEmbeddedServer, client: createEmbeddedClient },
  local: { server: createLocalServer, client: createLocalClient },
  networked: { server: createNetworkedServer, client: createNetworkedClient },
};

/** Every completed peer call (success or failure) is published here as a `PeerCall`. */
export const peerCallChannel = diagnostics.channel('plume:cluster:call');

/**
 * Who a peer `invoke:` call is made for, as its credential says (RequestOptions.credential):
 * - `client`: an outside caller a node serves (its gateway), with the HTTP request's bearer token if any;
 *   the serving node checks that token as its own gateway would.
 * - `node`: the calling node's own call (a guest's chained call, a workflow step): like a chained call on
 *   one node, it needs no invoke token; the cluster secret that authenticated the connection vouches for it.
 * A call without a credential (a PeerClient used directly) counts as a client with no token.
 */
export type PeerCaller = { readonly kind: 'client'; readonly token?: string | undefined } | { readonly kind: 'node' };

/** One `invoke:` call that arrived over a peer connection, for the guard to check before it runs. */
export interface PeerInvocation {
  readonly function: string;
  readonly caller: PeerCaller;
  /** Runs the call; the guard calls it once its checks pass. */
  run(): Promise<Uint8Array>;
}

/**
 * Checks a peer call before it runs (invoke tokens, admission) and runs it: `plume up` passes the
 * gateway's, so calls over peers meet the same doors as over HTTP. The cluster layer cannot import the
 * gateway, hence a hook.
 */
export type PeerGuard = (call: PeerInvocation) => Promise<Uint8Array>;

export interface PeerServerOptions extends ServerOptions {
  readonly mode: TransportMode;
  /**
   * Accept `deploy:<name>` from clients. Off by default: a peer that accepts deploys runs any code its
   * clients send (give a `secret`, and listen on a private socket or network).
   */
  readonly allowDeploy?: boolean;
  /** Checks and runs each `invoke:` call (default: runs it unchecked). */
  readonly guard?: PeerGuard;
}

const NODE_CREDENTIAL = 'node';
const BEARER = 'bearer ';

function encodeCaller(caller: PeerCaller): string {
  if (caller.kind === 'node') return NODE_CREDENTIAL;
  return caller.token === undefined ? 'client' : `${BEARER}${caller.token}`;
}

function decodeCaller(credential: string | undefined): PeerCaller {
  if (credential === NODE_CREDENTIAL) return { kind: 'node' };
  if (credential?.startsWith(BEARER)) return { kind: 'client', token: credential.slice(BEARER.length) };
  return { kind: 'client' };
}

/** Serves one runtime's functions over one transport server. Closing it leaves the runtime running. */
export class PeerServer {
  readonly mode: TransportMode;
  readonly #plume: Plume;
  readonly #allowDeploy: boolean;
  readonly #guard: PeerGuard;
  readonly #server: TransportServer;
  /** Invocations running for clients, and who waits for them to reach 0 (`drain`). */
  #running = 0;
  #idle: (() => void)[] = [];

  constructor(plume: Plume, options: PeerServerOptions) {
    const transport = transports[options.mode];
    if (!transport) throw new TypeError(`mode must be 'embedded', 'local' or 'networked', got '${String(options.mode)}'`);
    const { mode, allowDeploy, guard, ...serverOptions } = options;
    this.mode = mode;
    this.#plume = plume;
    this.#allowDeploy = allowDeploy ?? false;
    this.#guard = guard ?? ((call) => call.run());
    // A large body claims its size before it is fetched: more than the function takes is refused unread.
    const bodyLimit = (method: string): number | undefined => this.#inputLimit(method);
    this.#server = transport.server((request) => this.#handle(request), { bodyLimit, ...serverOptions });
  }

  #inputLimit(method: string): number | undefined {
    if (!method.startsWith(INVOKE)) return undefined;
    try {
      return this.#plume.describe(method.slice(INVOKE.length)).limits.maxInputBytes;
    } catch {
      return undefined; // not deployed here: the call fails with PLUME_ENOFUNC before it reads a byte more
    }
  }

  /** Resolves with the address clients connect to (a socket path, `127.0.0.1:41873`, an embedded name). */
  listen(address?: string): Promise<string> {
    return this.#server.listen(address);
  }

  /** Drops every connection: clients' calls in flight reject with `PLUME_EPEER`. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /**
   * Resolves true once no call that clients sent is running, false if some still run after `timeoutMs`.
   * A draining node waits here before `close`, so calls its peers sent before they unlinked it finish.
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#running === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async #handle({ method, body, signal, keep, credential }: TransportRequest): Promise<Uint8Array> {
    // The runtime cannot stop a call once started; a call the client gave up on before it began is skipped.
    signal.throwIfAborted();
    if (method.startsWith(INVOKE)) {
      const name = method.slice(INVOKE.length);
      this.#running++;
      try {
        // The body is ours until we answer (a pooled receive buffer, for a large one): the worker reads it
        // in place, without the copy an ordinary invoke makes.
        const run = (): Promise<Uint8Array> => this.#plume.invoke(name, body, { transfer: true });
        return await this.#guard({ function: name, caller: decodeCaller(credential), run });
      } catch (error) {
        // A call that timed out may still run on (a suspended guest): its input must not be reused.
        if ((error as PlumeError).code === 'PLUME_ETIMEOUT') keep();
        throw error;
      } finally {
        if (--this.#running === 0) for (const wake of this.#idle.splice(0)) wake();
      }
    }
    if (method === FUNCTIONS) {
      const catalog: PeerFunction[] = this.#plume
        .list()
        .map((f) => ({ name: f.name, maxInputBytes: f.limits.maxInputBytes, stateful: f.stateful }));
      return Buffer.from(JSON.stringify(catalog));
    }
    if (method.startsWith(DEPLOY)) {
      if (!this.#allowDeploy) throw new PlumeError('PLUME_EINPUT', 'this peer does not accept deploys');
      keep(); // a deployed module may be kept by the runtime
      const { options, module } = decodeDeploy(body);
      return Buffer.from(JSON.stringify(await this.#plume.deploy(method.slice(DEPLOY.length), module, options)));
    }
    throw new PlumeError(
      'PLUME_EINPUT',
      `unknown peer method '${method}' (expected '${INVOKE}<name>', '${FUNCTIONS}' or '${DEPLOY}<name>')`,
    );
  }
}

/** What one peer call moved: its request and response hops summed, as the transport reported them. */
export interface PeerCall {
  readonly function: string;
  readonly mode: TransportMode;
  /** Bytes that reached the other side, both ways (socket modes: frame headers and the method name too). */
  readonly bytesMoved: number;
  /** Payload bytes Plume copied in user space, both ways (socket modes: one per hop; `embedded`: none). */
  readonly bytesCopied: number;
  readonly ms: number;
  readonly ok: boolean;
}

export interface PeerInvokeOptions {
  /** Rejects with `PLUME_ETIMEOUT` after this long (default: the client's `timeoutMs`, 30 s). */
  readonly timeoutMs?: number;
  /** Who the call is for (default: a client with no token); see PeerCaller. */
  readonly caller?: PeerCaller;
}

const encoder = new TextEncoder();

/** Calls the functions of one peer. Calls share one connection and may run concurrently. */
export class PeerClient {
  readonly mode: TransportMode;
  readonly address: string;
  readonly #client: TransportClient;

  private constructor(mode: TransportMode, address: string, client: TransportClient) {
    this.mode = mode;
    this.address = address;
    this.#client = client;
  }

  /** Connects to a `PeerServer`; rejects with `PLUME_EPEER` if nothing listens at `address`. */
  static async connect(address: string, mode: TransportMode, options: ClientOptions = {}): Promise<PeerClient> {
    const transport = transports[mode];
    if (!transport) throw new TypeError(`mode must be 'embedded', 'local' or 'networked', got '${String(mode)}'`);
    const client = transport.client(options);
    await client.connect(address);
    return new PeerClient(mode, address, client);
  }

  /** The function's output; its errors arrive as PlumeErrors with the peer's code, a lost peer as `PLUME_EPEER`. */
  async invoke(name: string, input: Uint8Array | string = new Uint8Array(0), options: PeerInvokeOptions = {}): Promise<Uint8Array> {
    return (await this.invokeDetailed(name, input, options)).output;
  }

  /** Like invoke, with what the call moved and copied. `input` must not change until the promise settles. */
  async invokeDetailed(
    name: string,
    input: Uint8Array | string = new Uint8Array(0),
    options: PeerInvokeOptions = {},
  ): Promise<{ output: Uint8Array; call: PeerCall }> {
    const body = typeof input === 'string' ? encoder.encode(input) : input;
    let bytesMoved = 0;
    let bytesCopied = 0;
    const onTransfer = (t: Transfer): void => {
      bytesMoved += t.bytesMoved;
      bytesCopied += t.bytesCopied;
    };
    const started = performance.now();
    const finish = (ok: boolean): PeerCall => {
      const call = { function: name, mode: this.mode, bytesMoved, bytesCopied, ms: performance.now() - started, ok };
      if (peerCallChannel.hasSubscribers) peerCallChannel.publish(call);
      return call;
    };
    const request: RequestOptions = { onTransfer };
    if (options.timeoutMs !== undefined) request.timeoutMs = options.timeoutMs;
    if (options.caller !== undefined) request.credential = encodeCaller(options.caller);
    try {
      const output = await this.#client.request(`${INVOKE}${name}`, body, request);
      return { output, call: finish(true) };
    } catch (error) {
      finish(false);
      throw error;
    }
  }

  /** The functions the peer serves now. */
  async functions(options: PeerInvokeOptions = {}): Promise<PeerFunction[]> {
    const answer = await this.#client.request(
      FUNCTIONS,
      new Uint8Array(0),
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
    );
    return parseJson(answer) as PeerFunction[];
  }

  /** Deploys a module (bytes, or a path read here) on the peer; the peer must allow deploys. */
  async deploy(name: string, module: Uint8Array | string, options: DeployOptions = {}): Promise<FunctionInfo> {
    const bytes = typeof module === 'string' ? await readModule(module) : module;
    const answer = await this.#client.request(`${DEPLOY}${name}`, encodeDeploy(options, bytes), { timeoutMs: 120_000 });
    return parseJson(answer) as FunctionInfo;
  }

  /** Calls in flight reject with `PLUME_ECLOSED`. */
  close(): Promise<void> {
    return this.#client.close();
  }
}

function parseJson(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
}

/** A deploy body: u32 BE length of the options' JSON, the JSON, then the module's bytes. */
function encodeDeploy(options: DeployOptions, module: Uint8Array): Uint8Array {
  const json = encoder.encode(JSON.stringify(options));
  const body = new Uint8Array(4 + json.length + module.length);
  new DataView(body.buffer).setUint32(0, json.length);
  body.set(json, 4);
  body.set(module, 4 + json.length);
  return body;
}

function decodeDeploy(body: Uint8Array): { options: DeployOptions; module: Uint8Array } {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const length = body.length >= 4 ? view.getUint32(0) : Infinity;
  if (4 + length > body.length) throw new PlumeError('PLUME_EINPUT', 'a deploy body must start with the length of its options');
  try {
    const options = JSON.parse(Buffer.from(body.buffer, body.byteOffset + 4, length).toString('utf8')) as DeployOptions;
    return { options, module: body.subarray(4 + length) };
  } catch {
    throw new PlumeError('PLUME_EINPUT', 'the options of a deploy are not JSON');
  }
}

function readModule(path: string): Promise<Uint8Array> {
  return readFileOr('PLUME_EMODULE', 'module', path);
}

export interface PeerProcessOptions {
  readonly mode: 'local' | 'networked';
  /** The peer runtime's worker threads (default: one per core). */
  readonly workers?: number;
  /** Give up if the peer has not printed its address after this long (default 10 s). */
  readonly startTimeoutMs?: number;
  /** The cluster secret of its PeerServer (passed in its environment, not its arguments, which `ps` shows). */
  readonly secret?: string;
}

export interface PeerProcess {
  readonly mode: 'local' | 'networked';
  /** Where its PeerServer listens: connect a PeerClient here. */
  readonly address: string;
  readonly pid: number;
  /** Deploys a module (a path read here, or bytes) in the peer, over a connection of its own. */
  deploy(name: string, module: string | Uint8Array, options?: DeployOptions): Promise<FunctionInfo>;
  /** Asks the peer to close (SIGTERM), SIGKILLs it after 5 s, and resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

const PEER_MAIN = fileURLToPath(new URL('./peer-main.ts', import.meta.url));
const STOP_GRACE_MS = 5000;

/**
 * Starts a Plume runtime and a PeerServer that accepts deploys in a child Node process. The child exits when
 * its stdin closes, so a peer never outlives the process that started it, even one that crashed.
 */
export async function startPeerProcess(options: PeerProcessOptions): Promise<PeerProcess> {
  const { mode } = options;
  if (mode !== 'local' && mode !== 'networked') throw new TypeError(`mode must be 'local' or 'networked', got '${String(mode)}'`);
  const args = ['--disable-warning=ExperimentalWarning', PEER_MAIN, '--mode', mode];
  if (options.workers !== undefined) args.push('--workers', String(options.workers));
  const env = { ...process.env };
  delete env['PLUME_CLUSTER_SECRET'];
  if (options.secret !== undefined) env['PLUME_CLUSTER_SECRET'] = options.secret;
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
  const exited = once(child, 'exit').then(() => undefined);
  let address: string;
  try {
    address = await readAddress(child, options.startTimeoutMs ?? 10_000);
  } catch (error) {
    kill(child, 'SIGKILL');
    await exited;
    throw error;
  }
  // The child alone must not keep this process alive: it dies on its own when our end of its stdin closes.
  child.unref();
  for (const stream of [child.stdin, child.stdout]) (stream as unknown as { unref?: () => void }).unref?.();
  let control: Promise<PeerClient> | undefined;
  let stopping: Promise<void> | undefined;
  return {
    mode,
    address,
    pid: child.pid!,
    deploy: async (name, module, deployOptions = {}) => {
      control ??= PeerClient.connect(address, mode, {
        timeoutMs: 120_000,
        ...(options.secret === undefined ? {} : { secret: options.secret }),
      });
      return (await control).deploy(name, module, deployOptions);
    },
    stop: () =>
      (stopping ??= (async () => {
        child.ref(); // wait for the exit even if nothing else keeps this process alive
        await control?.then((c) => c.close()).catch(() => {});
        kill(child, 'SIGTERM');
        const timer = setTimeout(() => kill(child, 'SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
        // A killed local peer cannot unlink its socket file.
        if (mode === 'local') await rm(address, { force: true });
      })()),
  };
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
}

/** The peer's first stdout line is `{"address": …}`; anything else, an early exit or silence fails the start. */
async function readAddress(child: ChildProcess, timeoutMs: number): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => line as string),
      once(child, 'exit').then(([code, signal]) => {
        throw new PlumeError('PLUME_EPEER', `the peer process exited before listening (code ${code}, signal ${signal})`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new PlumeError('PLUME_EPEER', `the peer process did not listen within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    const address = parseAddress(first);
    if (address === undefined) throw new PlumeError('PLUME_EPEER', `the peer process printed '${first}', not its address`);
    return address;
  } finally {
    clearTimeout(timer);
    lines.close();
    child.stdout!.resume(); // drain whatever else it prints
  }
}

function parseAddress(line: string): string | undefined {
  try {
    const { address } = JSON.parse(line) as { address?: unknown };
    return typeof address === 'string' ? address : undefined;
  } catch {
    return undefined;
  }
}

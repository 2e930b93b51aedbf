/**
 * A real redis-server for tests and benchmarks, on a free port, without persistence. redis-server cannot
 * listen on port 0 and report the port, so a free one is found first; `restart` reuses it, as a Redis that
 * comes back does. The multi-host harness (bench/support/cluster.ts) starts it inside a network namespace
 * through `options.launcher` (`ip netns exec NS`) on that namespace's address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  url: string;
  port: number;
  /** The server's process while it runs (for a synchronous teardown by PID). */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM to its PID) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers PING. */
  restart(): Promise<void>;
}

export interface RedisOptions {
  /** The address it binds and is reached at; default 127.0.0.1. */
  readonly host?: string;
  /** Default: a free port on loopback (a namespace of its own has every port free: give one). */
  readonly port?: number;
  /** A command prefix the server runs under, e.g. `['ip', 'netns', 'exec', 'plume-1-0-r']`; it must exec, not fork. */
  readonly launcher?: readonly string[];
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const launch = (): Promise<ChildProcess> => spawnRedis(host, port, options.launcher ?? []);
  let child: ChildProcess | undefined = await launch();
  // A test run that dies must not leave the server behind.
  const killOnExit = (): void => void child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  };
  return {
    url: `redis://${host}:${port}`,
    port,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    stop: async () => {
      await stop();
      process.removeListener('exit', killOnExit);
    },
    restart: async () => {
      await stop();
      child = await launch();
    },
  };
}

async function spawnRedis(host: string, port: number, launcher: readonly string[]): Promise<ChildProcess> {
  const args = ['redis-server', '--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no'];
  // Bound to a namespace's address, Redis's protected mode would refuse the other namespaces (no password).
  if (host !== '127.0.0.1') args.push('--protected-mode', 'no');
  const [command, ...rest] = [...launcher, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 5000;
  while (!(await answersPing(host, port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer PING on ${host}:${port} within 5 s: ${stderr}`);
    }
    await sleep(20);
  }
  return child;
}

function answersPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Retries `call` until it succeeds, for a client that reconnects in the background after a restart. */
export async function eventually<T>(call: () => Promise<T>, withinMs = 5000): Promise<T> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (performance.now() > deadline) throw e;
      await sleep(50);
    }
  }
}

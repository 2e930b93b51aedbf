/**
 * The client side of `plume bench cluster`: plain `node:http` with keep-alive (fetch costs a few hundred µs
 * more per request, which would blur a sub-millisecond hop), and a receiver for asynchronous calls'
 * callbacks. The client runs in the benchmark's process, outside every node's process (and namespace).
 */
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
  /** From the request's start to the last byte of the answer. */
  readonly ms: number;
}

/** POST `body` to `url`; rejects on a network error or after `timeoutMs`. */
export function post(url: string, body: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          headers: res.headers,
          ms: performance.now() - started,
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** One call's output from a `?trace=1` workflow run: the output bytes as text and the node that ran the step. */
export function workflowOutput(answer: Answer): string {
  const { output } = JSON.parse(answer.body) as { output: string };
  return Buffer.from(output, 'base64').toString();
}

/** Receives callbacks (`X-Callback-Url`) and resolves each call's wait with the time it arrived. */
export class CallbackReceiver {
  readonly #server: Server;
  readonly #waiting = new Map<string, (at: number) => void>();
  /** Arrived before anyone waited (a callback can beat the 202's parsing). */
  readonly #early = new Map<string, number>();
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      const at = performance.now();
      const id = String(req.headers['x-call-id'] ?? '');
      req.resume();
      req.on('end', () => {
        res.end();
        const wake = this.#waiting.get(id);
        if (wake) {
          this.#waiting.delete(id);
          wake(at);
        } else this.#early.set(id, at);
      });
    });
  }

  async listen(host: string): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, host, resolve));
    this.url = `http://${host}:${(this.#server.address() as AddressInfo).port}/done`;
  }

  /** When the callback of call `id` arrived; rejects after `timeoutMs`. */
  arrival(id: string, timeoutMs = 10_000): Promise<number> {
    const early = this.#early.get(id);
    if (early !== undefined) {
      this.#early.delete(id);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`no callback for call ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export function closeClients(): void {
  agent.destroy();
}

/**
 * Asynchronous calls (`POST /async-function/:name`): their results wait here to be fetched
 * (`GET /async-function/:name/:callId`) and, when the caller gave an `X-Callback-Url`, are POSTed there.
 * Finished results are kept for `ttlMs` and at most `maxResults` of them, oldest dropped first, so a
 * client that never collects cannot grow the node's memory without bound. Pending calls are never
 * dropped: admission already bounds how many there are.
 */
import { randomUUID } from 'node:crypto';
import { PlumeError } from '../errors.ts';
import { errorBody, statusOf, type ErrorBody } from './http-errors.ts';
import { Headers } from './protocol.ts';

export interface AsyncCall {
  readonly id: string;
  readonly function: string;
  state: 'pending' | 'done' | 'failed';
  /** The status the synchronous call would have answered (200, or the error's status). */
  status: number;
  output: Uint8Array | undefined;
  error: ErrorBody | undefined;
  readonly callbackUrl: URL | undefined;
}

export interface AsyncCallOptions {
  /** How long a finished result stays retrievable; default 10 minutes. */
  readonly ttlMs?: number;
  /** Finished results kept at most; default 1000. */
  readonly maxResults?: number;
  /** Time allowed for the callback receiver to answer; default 10 s. */
  readonly callbackTimeoutMs?: number;
}

/** `X-Callback-Url` must be an absolute http(s) URL; anything else is refused before the call is accepted. */
export function parseCallbackUrl(header: string | string[] | undefined): URL | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PlumeError('PLUME_EHEADER', `X-Callback-Url must be an absolute http(s) URL, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PlumeError('PLUME_EHEADER', `X-Callback-Url must use http or https, got '${url.protocol}'`);
  }
  return url;
}

export class AsyncCalls {
  readonly #calls = new Map<string, AsyncCall>();
  /** Ids of finished calls, oldest first (a Map keeps insertion order). */
  readonly #finished = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxResults: number;
  readonly #callbackTimeoutMs: number;

  constructor(options: AsyncCallOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#maxResults = options.maxResults ?? 1000;
    this.#callbackTimeoutMs = options.callbackTimeoutMs ?? 10_000;
  }

  start(fn: string, callbackUrl: URL | undefined): AsyncCall {
    const call: AsyncCall = {
      id: randomUUID(),
      function: fn,
      state: 'pending',
      status: 202,
      output: undefined,
      error: undefined,
      callbackUrl,
    };
    this.#calls.set(call.id, call);
    return call;
  }

  /** Record the outcome, then deliver it to the callback URL if there is one (resolves when delivered or failed). */
  async settle(call: AsyncCall, outcome: { output: Uint8Array } | { error: unknown }): Promise<void> {
    if ('output' in outcome) Object.assign(call, { state: 'done', status: 200, output: outcome.output });
    else Object.assign(call, { state: 'failed', status: statusOf(outcome.error), error: errorBody(outcome.error) });
    this.#finished.set(call.id, Date.now());
    this.#evict();
    await this.#deliver(call);
  }

  /** The call, if it is known and its result has not expired. */
  get(id: string): AsyncCall | undefined {
    this.#evict();
    return this.#calls.get(id);
  }

  #evict(): void {
    const expired = Date.now() - this.#ttlMs;
    for (const [id, at] of this.#finished) {
      if (at > expired && this.#finished.size <= this.#maxResults) break;
      this.#finished.delete(id);
      this.#calls.delete(id);
    }
  }

  /** POST the outcome to the call's X-Callback-Url, if it gave one. */
  async #deliver(call: AsyncCall): Promise<void> {
    const url = call.callbackUrl;
    if (!url) return;
    const body = (call.output ?? new TextEncoder().encode(JSON.stringify(call.error))) as Uint8Array<ArrayBuffer>;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': call.output ? 'application/octet-stream' : 'application/json',
          [Headers.callId]: call.id,
          [Headers.functionName]: call.function,
          [Headers.functionStatus]: String(call.status),
        },
        body,
        signal: AbortSignal.timeout(this.#callbackTimeoutMs),
      });
      await res.arrayBuffer();
    } catch {
      // Delivery is best effort: the result stays retrievable with GET until it expires.
    }
  }
}

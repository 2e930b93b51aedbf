/**
 * The CLI's side of the HTTP contract: requests to a running node (`plume up`), with every failure turned
 * into one line that says what to do: an unreachable node, a refused token, the node's own error message.
 */
import { PlumeError, type SerializedError } from '../errors.ts';

export interface ClientOptions {
  /** Default http://127.0.0.1:8080, or $PLUME_URL. */
  url?: string;
  /** Bearer token (admin or invoke); default $PLUME_TOKEN. */
  token?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface RequestOptions {
  readonly body?: Uint8Array | string;
  readonly query?: Record<string, string | readonly string[] | undefined>;
  readonly headers?: Record<string, string>;
}

export class NodeClient {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(options: ClientOptions) {
    const url = options.url ?? process.env['PLUME_URL'] ?? DEFAULT_URL;
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError();
    } catch {
      throw new TypeError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got '${url}'`);
    }
    this.url = url.replace(/\/+$/, '');
    this.#token = options.token ?? process.env['PLUME_TOKEN'];
  }

  /** The response of a successful request (2xx); anything else throws a PlumeError with the node's message. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const target = new URL(this.url + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      for (const v of value === undefined ? [] : [value].flat()) target.searchParams.append(key, v);
    }
    const headers: Record<string, string> = { ...options.headers };
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/octet-stream';
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body as Uint8Array<ArrayBuffer> | string }),
      });
    } catch (err) {
      throw this.#unreachable(err);
    }
    if (res.ok) return res;
    throw await responseError(res);
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await (await this.request(method, path, options)).json()) as T;
  }

  #unreachable(err: unknown): PlumeError {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    const why: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'host not found',
      ECONNRESET: 'connection reset',
      ETIMEDOUT: 'timed out',
      UND_ERR_SOCKET: 'connection closed',
    };
    const reason = why[cause?.code ?? ''] ?? cause?.message ?? (err as Error).message;
    return new PlumeError(
      'PLUME_EPEER',
      `cannot reach a Plume node at ${this.url}: ${reason} — start one with \`plume up\`, or pass --url`,
    );
  }
}

async function responseError(res: Response): Promise<PlumeError> {
  const text = await res.text();
  let error: SerializedError | undefined;
  try {
    error = (JSON.parse(text) as { error?: SerializedError }).error;
  } catch {
    // Not a Plume node answering (a proxy, another server): say what came back.
  }
  if (error?.code === 'PLUME_EAUTH' || error?.code === 'PLUME_EFORBIDDEN') {
    return PlumeError.from({ ...error, message: `${error.message} — pass --token or set PLUME_TOKEN` });
  }
  if (error?.code && error.message) return PlumeError.from(error);
  return new PlumeError('PLUME_EPEER', `the node answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

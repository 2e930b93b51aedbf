/**
 * Callbacks of async calls (docs/gateway.md, "Async calls and callbacks"): where a node may POST a result,
 * and how. A callback URL names a host the caller chose, and the node connects to it from inside the
 * cluster; so only public addresses are allowed unless `--callback-allow` lists a CIDR or host. The host
 * is resolved (every address, dns.lookup all) and each address checked, at accept (400) and again at each
 * delivery, and the connection goes to the address that was checked: a DNS answer that changes between
 * the check and the connect (rebinding) cannot redirect it. Each delivery is signed
 * (`X-Plume-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "t.callId.body">`) when the node has a secret,
 * and retried with exponential backoff and jitter, at least once per call.
 */
import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { PlumeError } from '../errors.ts';

export const SIGNATURE_HEADER = 'x-plume-signature';

export interface CallbackOptions {
  /** CIDRs (`10.0.0.0/8`, `::1/128`), addresses (`127.0.0.1`) or host names that may be called though not public. */
  readonly allow?: readonly string[];
  /** HMAC key of X-Plume-Signature; without one, callbacks go unsigned. */
  readonly secret?: string;
  /** Attempts per callback before it is dead-lettered; default 6. */
  readonly attempts?: number;
  /** Delay before the second attempt, doubled for each next one (±50% jitter); default 2,000 ms (6 attempts ≈ 1 min). */
  readonly backoffMs?: number;
  /** Time allowed for the receiver to answer one attempt; default 10 s. */
  readonly timeoutMs?: number;
}

/** Addresses a node never calls unless allowed: loopback, private, link-local, shared, documentation, multicast, reserved. */
const NON_PUBLIC: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 3, 'ipv4'],
  ['::', 127, 'ipv6'],
  // IPv4-mapped addresses are checked as the IPv4 address they carry; a spelling not recognised as one is refused.
  ['::ffff:0:0', 96, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

export interface CheckedTarget {
  readonly url: URL;
  readonly address: string;
  readonly family: 4 | 6;
}

export class CallbackPolicy {
  readonly #blocked = new BlockList();
  readonly #allowed = new BlockList();
  readonly #allowedHosts = new Set<string>();

  constructor(allow: readonly string[] = []) {
    for (const [net, prefix, type] of NON_PUBLIC) this.#blocked.addSubnet(net, prefix, type);
    for (const entry of allow) this.#allow(entry);
  }

  /**
   * The URL, parsed and checked, with the address to connect to. Throws PLUME_EHEADER (400) for a URL that
   * is not absolute http(s), a host that does not resolve, or any address that is not public and not allowed.
   */
  async check(value: string): Promise<CheckedTarget> {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new PlumeError('PLUME_EHEADER', `X-Callback-Url must be an absolute http(s) URL, got '${value}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PlumeError('PLUME_EHEADER', `X-Callback-Url must use http or https, got '${url.protocol}'`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    let addresses: { address: string; family: number }[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await lookup(host, { all: true, verbatim: true });
      } catch (err) {
        throw new PlumeError(
          'PLUME_EHEADER',
          `X-Callback-Url host '${host}' does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    if (!addresses.length) throw new PlumeError('PLUME_EHEADER', `X-Callback-Url host '${host}' has no address`);
    if (!this.#allowedHosts.has(host)) {
      for (const { address, family } of addresses) {
        if (!this.#permits(address, family === 6 ? 'ipv6' : 'ipv4')) {
          throw new PlumeError(
            'PLUME_EHEADER',
            `X-Callback-Url host '${host}' resolves to ${address}, which is not a public address: callbacks go only to public addresses unless the node allows it (plume up --callback-allow CIDR|host)`,
          );
        }
      }
    }
    const first = addresses[0]!;
    return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
  }

  #permits(address: string, type: 'ipv4' | 'ipv6'): boolean {
    const mapped = type === 'ipv6' ? mappedIpv4(address) : undefined;
    const [a, t] = mapped ? [mapped, 'ipv4' as const] : [address, type];
    if (this.#allowed.check(a, t)) return true;
    return !this.#blocked.check(a, t);
  }

  #allow(entry: string): void {
    const [net, bits] = entry.split('/');
    const type = isIP(net ?? '');
    if (type === 0) {
      if (bits !== undefined || !/^[a-z0-9.-]+$/i.test(entry)) {
        throw new TypeError(`--callback-allow expects a CIDR (10.0.0.0/8), an address or a host name, got '${entry}'`);
      }
      this.#allowedHosts.add(entry.toLowerCase());
      return;
    }
    const max = type === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!/^\d+$/.test(bits ?? String(max)) || prefix > max) {
      throw new TypeError(`--callback-allow '${entry}': the prefix length must be 0-${max}`);
    }
    this.#allowed.addSubnet(net!, prefix, type === 4 ? 'ipv4' : 'ipv6');
  }
}

/** The IPv4 address an IPv4-mapped IPv6 address carries (`::ffff:127.0.0.1`, or as URLs write it, `::ffff:7f00:1`). */
function mappedIpv4(address: string): string | undefined {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** The signature header for a delivery: the receiver recomputes it with the shared secret (docs/gateway.md). */
export function sign(secret: string, callId: string, body: Uint8Array, unixS = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${unixS}.${callId}.`).update(body).digest('hex');
  return `t=${unixS},v1=${mac}`;
}

export interface Delivery {
  readonly callId: string;
  readonly url: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
}

/** The outcome of delivering one callback: delivered, or given up after `attempts` with the last reason. */
export type DeliveryResult =
  { readonly ok: true; readonly attempts: number } | { readonly ok: false; readonly attempts: number; readonly lastError: string };

export class CallbackSender {
  readonly policy: CallbackPolicy;
  readonly #secret: string | undefined;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;

  constructor(options: CallbackOptions = {}) {
    this.policy = new CallbackPolicy(options.allow);
    this.#secret = options.secret || undefined;
    this.#attempts = options.attempts ?? 6;
    this.#backoffMs = options.backoffMs ?? 2000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isSafeInteger(this.#attempts) || this.#attempts < 1)
      throw new RangeError(`callback attempts must be ≥ 1, got ${this.#attempts}`);
    if (!(this.#backoffMs >= 0)) throw new RangeError(`callback backoffMs must be ≥ 0, got ${this.#backoffMs}`);
  }

  /** POST until a 2xx answer or the last attempt. The policy is checked again each time (DNS may have changed). */
  async deliver(d: Delivery): Promise<DeliveryResult> {
    let lastError = '';
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      try {
        const target = await this.policy.check(d.url);
        const headers = { ...d.headers, ...(this.#secret ? { [SIGNATURE_HEADER]: sign(this.#secret, d.callId, d.body) } : {}) };
        const status = await post(target, headers, d.body, this.#timeoutMs);
        if (status >= 200 && status < 300) return { ok: true, attempts: attempt };
        lastError = `the receiver answered ${status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (attempt < this.#attempts) {
        // Full doubling with ±50% jitter, so receivers that come back are not hit by every node at once.
        const delay = this.#backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random());
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    return { ok: false, attempts: this.#attempts, lastError };
  }
}

/** One POST to the checked address (the URL's host stays in Host and in TLS's server name). */
function post(target: CheckedTarget, headers: Record<string, string>, body: Uint8Array, timeoutMs: number): Promise<number> {
  const { url, address, family } = target;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.length) },
        lookup: (_host, options, done) => {
          if ((options as { all?: boolean }).all)
            (done as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
          else done(null, address, family);
        },
        servername: isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname,
        timeout: timeoutMs,
      } as https.RequestOptions,
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the receiver did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

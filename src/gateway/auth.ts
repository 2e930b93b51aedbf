/**
 * Bearer-token auth. The admin token (when the node has one) guards `/system/*`; a function or workflow
 * deployed with an invoke token needs that token (or the admin token) to be called; everything else is
 * open, as in OpenFaaS. Tokens are kept and compared as SHA-256 digests in constant time, so neither the
 * comparison's timing nor a heap dump gives a token away.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PlumeError } from '../errors.ts';

/** Which token a route needs: the admin token, the invoke token of a function or workflow, or none. */
export type Guard = 'admin' | 'function' | 'workflow' | 'none';

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The SHA-256 of an invoke token in hex: what the cluster registry keeps instead of the token. */
export const tokenDigest = (token: string): string => digest(token).toString('hex');

export class Tokens {
  readonly #admin: Buffer | undefined;
  /** `function:<name>` or `workflow:<name>` → digest of its invoke token. */
  readonly #invoke = new Map<string, Buffer>();

  constructor(adminToken: string | undefined) {
    if (adminToken !== undefined && adminToken.length === 0) throw new RangeError('adminToken must not be empty');
    this.#admin = adminToken === undefined ? undefined : digest(adminToken);
  }

  setInvokeToken(kind: 'function' | 'workflow', name: string, token: string | undefined): void {
    if (token === undefined) this.#invoke.delete(`${kind}:${name}`);
    else this.#invoke.set(`${kind}:${name}`, digest(token));
  }

  /**
   * The invoke token of a function or workflow given as its SHA-256 digest (hex), as the cluster registry
   * keeps it: every node enforces the token without any node storing it.
   */
  setInvokeDigest(kind: 'function' | 'workflow', name: string, hex: string | undefined): void {
    if (hex === undefined) this.#invoke.delete(`${kind}:${name}`);
    else if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`an invoke token digest must be 64 hex digits, got '${hex}'`);
    else this.#invoke.set(`${kind}:${name}`, Buffer.from(hex, 'hex'));
  }

  /** Whether the node has an admin token (the dashboard refuses to serve without one). */
  get hasAdmin(): boolean {
    return this.#admin !== undefined;
  }

  /** Is `token` the admin token? Compared as digests in constant time, like every other check. */
  isAdmin(token: string): boolean {
    return this.#admin !== undefined && timingSafeEqual(this.#admin, digest(token));
  }

  isProtected(kind: 'function' | 'workflow', name: string): boolean {
    return this.#invoke.has(`${kind}:${name}`);
  }

  /** Throws PLUME_EAUTH (401: no usable token) or PLUME_EFORBIDDEN (403: a token, not the right one). */
  check(guard: Guard, name: string | undefined, headers: IncomingHttpHeaders): void {
    if (guard === 'none') return;
    // The admin token opens everything; a function or workflow without an invoke token is open to all.
    const own = guard === 'admin' ? this.#admin : this.#invoke.get(`${guard}:${name}`);
    if (own === undefined) return;
    const accepted = [own, this.#admin].filter((d): d is Buffer => d !== undefined);
    const what = guard === 'admin' ? '/system routes need the admin token' : `${guard} '${name}' needs its invoke token`;
    const header = headers.authorization;
    if (header === undefined) throw new PlumeError('PLUME_EAUTH', `missing Authorization header: ${what} (Authorization: Bearer <token>)`);
    const match = /^Bearer +(\S+)\s*$/i.exec(header);
    if (!match) throw new PlumeError('PLUME_EAUTH', `Authorization header must be 'Bearer <token>': ${what}`);
    const given = digest(match[1]!);
    if (!accepted.some((d) => timingSafeEqual(d, given)))
      throw new PlumeError('PLUME_EFORBIDDEN', `the bearer token is not valid: ${what}`);
  }
}

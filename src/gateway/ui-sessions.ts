/**
 * Sessions of the dashboard (docs/ui.md, "Security"). Logging in exchanges the admin token for a random
 * session id held in an HttpOnly, SameSite=Strict cookie; the node keeps only a digest of each id, so a heap
 * dump gives none away, and compares the CSRF token every state-changing request carries in constant time.
 * The admin token itself in `Authorization: Bearer` opens the dashboard's API too (scripts, curl).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PlumeError } from '../errors.ts';
import type { Tokens } from './auth.ts';

export const SESSION_COOKIE = 'plume_ui';
/** The header the page sends its CSRF token in (a custom header: a cross-site form cannot set one). */
export const CSRF_HEADER = 'x-plume-csrf';

export interface UiSession {
  readonly csrf: string;
  readonly expires: number;
}

export interface UiSessionsOptions {
  /** How long a session lasts from login; default 12 hours (a working day, then log in again). */
  readonly ttlMs?: number;
  /** Sessions kept at once; the oldest goes first past it, so logins cannot grow the node's memory. Default 256. */
  readonly max?: number;
}

const digest = (value: string): string => createHash('sha256').update(value).digest('base64url');
const random = (): string => randomBytes(32).toString('base64url');

export class UiSessions {
  readonly #tokens: Tokens;
  readonly #ttlMs: number;
  readonly #max: number;
  /** digest(session id) → session; a Map keeps insertion order, so the first key is the oldest login. */
  readonly #sessions = new Map<string, UiSession>();

  constructor(tokens: Tokens, options: UiSessionsOptions = {}) {
    this.#tokens = tokens;
    this.#ttlMs = options.ttlMs ?? 12 * 3600_000;
    this.#max = options.max ?? 256;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** A new session for the admin token, or undefined for any other token. */
  login(token: string): { id: string; session: UiSession } | undefined {
    if (!this.#tokens.isAdmin(token)) return undefined;
    const id = random();
    const session = { csrf: random(), expires: Date.now() + this.#ttlMs };
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(digest(id), session);
    return { id, session };
  }

  logout(headers: IncomingHttpHeaders): void {
    const id = cookieOf(headers, SESSION_COOKIE);
    if (id !== undefined) this.#sessions.delete(digest(id));
  }

  /** The request's live session, if its cookie names one. */
  find(headers: IncomingHttpHeaders): UiSession | undefined {
    const id = cookieOf(headers, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (session && session.expires <= Date.now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /**
   * Admits a request to the dashboard's API, or throws: PLUME_EFORBIDDEN when the node has no admin token
   * (the dashboard is off) or a state-changing request lacks its CSRF token, PLUME_EAUTH without a session
   * or bearer token. A bearer token is checked as on /system (401 malformed, 403 wrong).
   */
  admit(method: string, headers: IncomingHttpHeaders): 'bearer' | UiSession {
    if (!this.#tokens.hasAdmin) throw noDashboard();
    if (headers.authorization !== undefined) {
      this.#tokens.check('admin', undefined, headers);
      return 'bearer';
    }
    const session = this.find(headers);
    if (!session)
      throw new PlumeError(
        'PLUME_EAUTH',
        'the dashboard needs a session: log in at /ui/login (or send Authorization: Bearer <admin token>)',
      );
    if (method !== 'GET' && method !== 'HEAD') checkCsrf(session, headers);
    return session;
  }
}

export interface LoginThrottleOptions {
  /** Wrong tokens one client address may try per window before it must wait; default 10. */
  readonly failures?: number;
  /** The window, and the wait; default one minute. */
  readonly windowMs?: number;
}

/** Addresses tracked at once: a flood of spoofed-looking clients cannot grow the node's memory. */
const MAX_TRACKED = 4096;

/**
 * Slows guessing of the admin token at the login form: after `failures` wrong tokens from one address
 * within a window, that address is refused (429) until the window ends, the right token included, so a
 * guesser learns nothing while locked out. A right token clears its address's count.
 */
export class LoginThrottle {
  readonly #failures: number;
  readonly #windowMs: number;
  readonly #seen = new Map<string, { count: number; since: number }>();

  constructor(options: LoginThrottleOptions = {}) {
    this.#failures = options.failures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Throws PLUME_EBUSY (429, with Retry-After) while `address` is locked out. */
  check(address: string): void {
    const entry = this.#seen.get(address);
    if (!entry) return;
    const left = entry.since + this.#windowMs - Date.now();
    if (left <= 0) {
      this.#seen.delete(address);
      return;
    }
    if (entry.count >= this.#failures) {
      const retryAfterS = Math.ceil(left / 1000);
      throw new PlumeError('PLUME_EBUSY', `too many wrong tokens from this address: try again in ${retryAfterS} s`, { retryAfterS });
    }
  }

  failed(address: string): void {
    const entry = this.#seen.get(address);
    if (entry) {
      entry.count++;
      return;
    }
    if (this.#seen.size >= MAX_TRACKED) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(address, { count: 1, since: Date.now() });
  }

  succeeded(address: string): void {
    this.#seen.delete(address);
  }
}

export function noDashboard(): PlumeError {
  return new PlumeError('PLUME_EFORBIDDEN', 'the dashboard is off: this node has no admin token (start it with plume up --admin-token T)');
}

function checkCsrf(session: UiSession, headers: IncomingHttpHeaders): void {
  const given = headers[CSRF_HEADER];
  const want = Buffer.from(session.csrf);
  const got = Buffer.from(typeof given === 'string' ? given : '');
  // timingSafeEqual needs equal lengths; a wrong length says nothing about the token's bytes.
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new PlumeError('PLUME_EFORBIDDEN', `a state-changing dashboard request needs the session's CSRF token in ${CSRF_HEADER}`);
}

/** One cookie's value from the Cookie header(s), or undefined. */
export function cookieOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value of a session; `maxAgeS` 0 clears it. Path /ui: no other route of the node receives it. */
export function sessionCookie(id: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
}

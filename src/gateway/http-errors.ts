/**
 * How an error becomes an HTTP answer: a status chosen by the PlumeError's code, and the body
 * `{ "error": { "code", "message" } }` that every refusal of the gateway carries.
 */
import { PlumeError, type ErrorCode } from '../errors.ts';

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  PLUME_ENOFUNC: 404,
  PLUME_ENOWORKFLOW: 404,
  PLUME_ENOROUTE: 404,
  PLUME_ENOCALL: 404,
  PLUME_EINPUT: 400,
  PLUME_ESPEC: 400,
  PLUME_EHEADER: 400,
  // A module the node cannot deploy is the client's mistake, not the node's.
  PLUME_EMODULE: 400,
  PLUME_EIMPORT: 400,
  PLUME_EENTRY: 400,
  PLUME_EMODEL: 400,
  PLUME_EAUTH: 401,
  PLUME_EFORBIDDEN: 403,
  PLUME_ETOOBIG: 413,
  PLUME_EBUSY: 429,
  PLUME_ETIMEOUT: 504,
  PLUME_ECLOSED: 503,
  PLUME_ESTATE_UNAVAILABLE: 503,
  PLUME_EPEER: 502,
  // Bad gateway, as PLUME_EPEER: the upstream node failed. Not 503: a blind retry may run a stateful call twice.
  PLUME_EPEER_LOST: 502,
};

/** The HTTP status for an error: PlumeErrors by code (a failing guest is 500), bad options 400, anything else 500. */
export function statusOf(err: unknown): number {
  if (err instanceof PlumeError) return STATUS[err.code] ?? 500;
  if (err instanceof TypeError || err instanceof RangeError) return 400;
  return 500;
}

export function errorBody(err: unknown): ErrorBody {
  if (err instanceof PlumeError) return { error: { code: err.code, message: err.message } };
  if (err instanceof TypeError || err instanceof RangeError) return { error: { code: 'PLUME_EINPUT', message: err.message } };
  // Anything else is a bug in the node: say so without leaking internals beyond the message.
  return { error: { code: 'PLUME_EINTERNAL', message: String((err as Error)?.message ?? err) } };
}

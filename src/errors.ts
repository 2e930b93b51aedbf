/**
 * Every error Plume throws carries a stable `code`. Errors that cross a thread or process boundary travel
 * as `{ code, message }` and are rebuilt here, so callers can branch on `err.code` wherever they are.
 */
export const ErrorCodes = {
  PLUME_EMODULE: 'the module is not valid WebAssembly or cannot be prepared',
  PLUME_EIMPORT: 'the module imports something no host interface provides',
  PLUME_EENTRY: 'the module lacks its entry export, or the export has the wrong type',
  PLUME_ENOFUNC: 'no function by that name is deployed',
  PLUME_ETRAP: 'the function trapped',
  PLUME_EFAILED: 'the function reported a failure',
  PLUME_ETIMEOUT: 'the function ran past its timeout',
  PLUME_EOUTPUT: 'the function wrote more output than its limit',
  PLUME_EMEMORY: 'the function needs more memory than its limit',
  PLUME_EWORKER: 'the worker running the invocation stopped',
  PLUME_ECLOSED: 'the runtime is closed',
  PLUME_EINPUT: 'the input is unreadable or too large',
  PLUME_EBUSY: 'too many invocations are queued',
  PLUME_EEXIT: 'the WASI command exited with a non-zero code',
  PLUME_ESTATE_UNAVAILABLE: 'the global state tier cannot be reached',
  PLUME_ETOOBIG: 'a value is larger than its limit: a state value (maxValueBytes), a request body, an input a function refused',
  PLUME_ELOCKED: 'the lock is still held by another owner',
  // Transports: a peer that vanished (its requests can be retried elsewhere) is told apart from one that
  // sent bytes we cannot parse (a bug or an attack; retrying the same peer is pointless).
  PLUME_EPEER: 'the transport peer closed the connection or could not be reached',
  PLUME_EFRAME: 'the transport received a malformed frame',
  // Cluster: a stateful call whose node died mid-call is not retried elsewhere (its state lived there, and
  // it may have run); a node id already held by a live node stops the second one from starting.
  PLUME_EPEER_LOST: 'the node running a stateful call was lost before it answered (the call was not retried)',
  PLUME_ENODEID: 'another live node of the cluster already uses this node id',
  PLUME_EMODEL: 'the model cannot be read or loaded, or no model by that name is registered',
  PLUME_ESPEC: 'the workflow spec is invalid',
  PLUME_ENOWORKFLOW: 'no workflow by that name is applied',
  // HTTP gateway: a request the node refuses before anything runs.
  PLUME_EHEADER: 'a request header is malformed',
  PLUME_EAUTH: 'the request has no bearer token, and this route needs one',
  PLUME_EFORBIDDEN: 'the bearer token is not valid for this route',
  PLUME_ENOROUTE: 'no such route',
  PLUME_ENOCALL: 'no asynchronous call with that id (unknown, or its result expired)',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class PlumeError extends Error {
  readonly code: ErrorCode;
  /** Extra fields that travel with the error (function name, exit code, …). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string = ErrorCodes[code], details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'PlumeError';
    this.code = code;
    this.details = details;
  }

  toJSON(): SerializedError {
    return { code: this.code, message: this.message, details: this.details };
  }

  /** Any thrown value as it crosses a thread: a PlumeError as itself, anything else under `fallback`. */
  static serialize(err: unknown, fallback: ErrorCode): SerializedError {
    return err instanceof PlumeError ? err.toJSON() : { code: fallback, message: String((err as Error)?.message ?? err) };
  }

  /** Any thrown value as a PlumeError: itself, or its message under `fallback`. */
  static of(err: unknown, fallback: ErrorCode): PlumeError {
    return err instanceof PlumeError ? err : new PlumeError(fallback, String((err as Error)?.message ?? err));
  }

  /** A WASI command that exited non-zero, as `invoke` and workflow steps report it. */
  static exit(name: string, exitCode: number): PlumeError {
    return new PlumeError('PLUME_EEXIT', `function '${name}' exited with code ${exitCode}`, { function: name, exitCode });
  }

  static from(e: SerializedError): PlumeError {
    const code = e.code in ErrorCodes ? (e.code as ErrorCode) : 'PLUME_EFAILED';
    return new PlumeError(code, e.message, e.details ?? {});
  }
}

export interface SerializedError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

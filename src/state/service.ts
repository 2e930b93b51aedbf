/**
 * The node's state, as its guests reach it: one global-tier backend and one local tier, owned by the main
 * thread (so the embedded memory backend is one store for every worker). Workers send operations here by
 * message while the calling guest is suspended (JSPI), so no thread waits.
 */
import { PlumeError } from '../errors.ts';
import type { LockLease, StateBackend } from './backend.ts';
import { LocalTier } from './local-tier.ts';

/** The operations a guest may ask for, with their arguments as they cross the thread boundary. */
export interface StateOps {
  get: [key: Uint8Array];
  getRange: [key: Uint8Array, offset: number, length: number];
  set: [key: Uint8Array, value: Uint8Array];
  setRange: [key: Uint8Array, offset: number, bytes: Uint8Array];
  compareAndSet: [key: Uint8Array, expectedVersion: number, value: Uint8Array];
  append: [key: Uint8Array, bytes: Uint8Array];
  readAppended: [key: Uint8Array, from: number];
  delete: [key: Uint8Array];
  acquire: [key: Uint8Array, leaseMs: number, owner: string, timeoutMs: number];
  unlock: [lease: LockLease];
  pull: [key: Uint8Array];
  push: [key: Uint8Array];
  read: [key: Uint8Array, offset: number, length: number];
  write: [key: Uint8Array, offset: number, bytes: Uint8Array];
}
export type StateOp = keyof StateOps;

export class StateService {
  readonly backend: StateBackend;
  readonly local: LocalTier;

  constructor(backend: StateBackend) {
    this.backend = backend;
    this.local = new LocalTier(backend);
  }

  handle<K extends StateOp>(op: K, args: StateOps[K]): Promise<unknown> {
    const [key] = args as [Uint8Array];
    const a = args as unknown[];
    switch (op) {
      case 'get':
        return this.backend.get(key);
      case 'getRange':
        return this.backend.getRange(key, a[1] as number, a[2] as number);
      case 'set':
        return this.backend.set(key, a[1] as Uint8Array);
      case 'setRange':
        return this.backend.setRange(key, a[1] as number, a[2] as Uint8Array);
      case 'compareAndSet':
        return this.backend.compareAndSet(key, a[1] as number, a[2] as Uint8Array);
      case 'append':
        return this.backend.append(key, a[1] as Uint8Array);
      case 'readAppended':
        return this.backend.readAppended(key, a[1] as number);
      case 'delete':
        return this.backend.delete(key);
      case 'acquire':
        return this.backend.acquire(key, a[1] as number, a[2] as string, { timeoutMs: a[3] as number });
      case 'unlock':
        return this.backend.unlock(a[0] as LockLease);
      case 'pull':
        return this.local.pull(key);
      case 'push':
        return this.local.push(key);
      case 'read':
        return Promise.resolve(this.local.read(key, a[1] as number, a[2] as number));
      case 'write':
        return Promise.resolve(this.local.write(key, a[1] as number, a[2] as Uint8Array));
      default:
        return Promise.reject(new PlumeError('PLUME_EINPUT', `unknown state operation '${String(op)}'`));
    }
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/**
 * The state imports of `plume_v1` (docs/abi.md, docs/state.md). Every one suspends the guest (JSPI) while
 * the node's StateService answers; keys and values are `(ptr, len)` byte ranges.
 */
import { PlumeError } from '../errors.ts';
import { Errno } from './errno.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { InstanceHandle } from '../engine/host-interface.ts';
import type { LockLease } from '../state/backend.ts';
import type { StateOp, StateOps } from '../state/service.ts';

export const STATE_IMPORTS = [
  'state_get',
  'state_get_range',
  'state_set',
  'state_set_range',
  'state_cas',
  'state_append',
  'state_read_appended',
  'state_delete',
  'state_lock',
  'state_unlock',
  'state_pull',
  'state_push',
  'state_read',
  'state_write',
] as const;

function stateUnavailable(instance: InstanceHandle, err: PlumeError): PlumeError {
  const name = instance.config.name;
  return new PlumeError('PLUME_ESTATE_UNAVAILABLE', `function '${name}' failed: ${err.message}`, { function: name, retryAfterS: 1 });
}

/** How a state failure reaches the guest: the closed errno set, never an exception. */
function errnoOf(err: unknown): number {
  switch ((err as { code?: string })?.code) {
    case 'PLUME_ESTATE_UNAVAILABLE':
      return Errno.unavailable;
    case 'PLUME_ETOOBIG':
      return Errno.too_big;
    case 'PLUME_ELOCKED':
    case 'PLUME_ETIMEOUT':
      return Errno.timeout;
    default:
      return Errno.failed;
  }
}

export function stateImports(instance: InstanceHandle, mem: GuestMemory): Record<string, unknown> {
  const bytes = (ptr: number, len: number): Uint8Array | undefined =>
    mem.inBounds(ptr >>> 0, len >>> 0) ? mem.u8.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0)) : undefined;
  const out = (ptr: number, size: number): boolean => mem.inBounds(ptr >>> 0, size);
  /** Copies `data` into the guest buffer (as much as fits) and writes its full length. */
  const give = (data: Uint8Array, buf: number, bufLen: number, outLen: number): number => {
    if (!mem.inBounds(buf >>> 0, bufLen >>> 0) || !out(outLen, 4)) return Errno.inval;
    mem.u8.set(data.subarray(0, bufLen >>> 0), buf >>> 0);
    mem.view.setUint32(outLen >>> 0, data.length, true);
    return Errno.ok;
  };
  const run = async <K extends StateOp>(op: K, args: StateOps[K], then: (result: unknown) => number): Promise<number> => {
    if (!instance.state) return Errno.notsup;
    try {
      return then(await instance.state.call(op, args));
    } catch (err) {
      // The guest sees an errno and may fail with a message of its own; its caller learns the real cause.
      if ((err as PlumeError).code === 'PLUME_ESTATE_UNAVAILABLE')
        instance.call.hostFailure ??= stateUnavailable(instance, err as PlumeError);
      return errnoOf(err);
    }
  };
  const suspending = (fn: (...args: never[]) => Promise<number>) => new WebAssembly.Suspending(fn);
  const version = (ptr: number, v: number): number => {
    if (!out(ptr, 8)) return Errno.inval;
    mem.view.setBigUint64(ptr >>> 0, BigInt(v), true);
    return Errno.ok;
  };

  return {
    state_get: suspending(async (k: number, kl: number, buf: number, bufLen: number, outLen: number, outVersion: number) => {
      const key = bytes(k, kl);
      if (!key || !out(outVersion, 8)) return Errno.inval;
      return run('get', [key], (r) => {
        const found = r as { value: Uint8Array; version: number } | undefined;
        if (!found) return Errno.noent;
        version(outVersion, found.version);
        return give(found.value, buf, bufLen, outLen);
      });
    }),
    state_get_range: suspending(async (k: number, kl: number, offset: number, buf: number, len: number, outLen: number) => {
      const key = bytes(k, kl);
      if (!key) return Errno.inval;
      return run('getRange', [key, offset >>> 0, len >>> 0], (r) => (r ? give(r as Uint8Array, buf, len, outLen) : Errno.noent));
    }),
    state_set: suspending(async (k: number, kl: number, v: number, vl: number, outVersion: number) => {
      const [key, value] = [bytes(k, kl), bytes(v, vl)];
      if (!key || !value || !out(outVersion, 8)) return Errno.inval;
      return run('set', [key, value], (r) => version(outVersion, r as number));
    }),
    state_set_range: suspending(async (k: number, kl: number, offset: number, v: number, vl: number, outVersion: number) => {
      const [key, value] = [bytes(k, kl), bytes(v, vl)];
      if (!key || !value || !out(outVersion, 8)) return Errno.inval;
      return run('setRange', [key, offset >>> 0, value], (r) => version(outVersion, r as number));
    }),
    // A version conflict answers `failed`, with the current version in out_version.
    state_cas: suspending(async (k: number, kl: number, expected: bigint, v: number, vl: number, outVersion: number) => {
      const [key, value] = [bytes(k, kl), bytes(v, vl)];
      if (!key || !value || !out(outVersion, 8)) return Errno.inval;
      return run('compareAndSet', [key, Number(expected), value], (r) => {
        const { ok, version: current } = r as { ok: boolean; version: number };
        version(outVersion, current);
        return ok ? Errno.ok : Errno.failed;
      });
    }),
    state_append: suspending(async (k: number, kl: number, v: number, vl: number, outCount: number) => {
      const [key, value] = [bytes(k, kl), bytes(v, vl)];
      if (!key || !value || !out(outCount, 4)) return Errno.inval;
      return run('append', [key, value], (r) => (mem.view.setUint32(outCount >>> 0, r as number, true), Errno.ok));
    }),
    // Entries from index `from`, each as [u32 length][bytes]; `too_big` (with the size needed) if they do not fit.
    state_read_appended: suspending(async (k: number, kl: number, from: number, buf: number, bufLen: number, outLen: number) => {
      const key = bytes(k, kl);
      if (!key || !mem.inBounds(buf >>> 0, bufLen >>> 0) || !out(outLen, 4)) return Errno.inval;
      return run('readAppended', [key, from >>> 0], (r) => {
        const entries = r as Uint8Array[];
        const size = entries.reduce((n, e) => n + 4 + e.length, 0);
        mem.view.setUint32(outLen >>> 0, size, true);
        if (size > bufLen >>> 0) return Errno.too_big;
        let at = buf >>> 0;
        for (const e of entries) {
          mem.view.setUint32(at, e.length, true);
          mem.u8.set(e, at + 4);
          at += 4 + e.length;
        }
        return Errno.ok;
      });
    }),
    state_delete: suspending(async (k: number, kl: number) => {
      const key = bytes(k, kl);
      if (!key) return Errno.inval;
      return run('delete', [key], (r) => (r ? Errno.ok : Errno.noent));
    }),
    state_lock: suspending(async (k: number, kl: number, leaseMs: number, timeoutMs: number, outLock: number) => {
      const key = bytes(k, kl);
      if (!key || !out(outLock, 4) || leaseMs >>> 0 === 0) return Errno.inval;
      const owner = `${instance.config.name}/${instance.call.root}`;
      const call = instance.call;
      return run('acquire', [key, leaseMs >>> 0, owner, timeoutMs >>> 0 || 30_000], (r) => {
        const locks = (call.locks ??= []);
        locks.push(r as LockLease);
        mem.view.setUint32(outLock >>> 0, locks.length, true);
        return Errno.ok;
      });
    }),
    // `failed` when the lease had already expired (another owner may have taken the lock meanwhile).
    state_unlock: suspending(async (handle: number) => {
      const lease = instance.call.locks?.[(handle >>> 0) - 1];
      if (!lease) return Errno.badf;
      instance.call.locks![(handle >>> 0) - 1] = undefined;
      return run('unlock', [lease], (r) => (r ? Errno.ok : Errno.failed));
    }),
    state_pull: suspending(async (k: number, kl: number) => {
      const key = bytes(k, kl);
      if (!key) return Errno.inval;
      return run('pull', [key], (r) => (r === undefined ? Errno.noent : Errno.ok));
    }),
    state_push: suspending(async (k: number, kl: number) => {
      const key = bytes(k, kl);
      if (!key) return Errno.inval;
      return run('push', [key], (r) => (r === undefined ? Errno.noent : Errno.ok));
    }),
    state_read: suspending(async (k: number, kl: number, offset: number, buf: number, len: number, outLen: number) => {
      const key = bytes(k, kl);
      if (!key) return Errno.inval;
      return run('read', [key, offset >>> 0, len >>> 0], (r) => (r ? give(r as Uint8Array, buf, len, outLen) : Errno.noent));
    }),
    state_write: suspending(async (k: number, kl: number, offset: number, v: number, vl: number) => {
      const [key, value] = [bytes(k, kl), bytes(v, vl)];
      if (!key || !value) return Errno.inval;
      return run('write', [key, offset >>> 0, value], () => Errno.ok);
    }),
  };
}

/**
 * WASI preview1 (`wasi_snapshot_preview1`), Plume's own implementation: no host descriptor, path or stream
 * reaches a guest except through this layer. Descriptors are virtual (./descriptors.ts), paths are
 * confined by construction (./paths.ts), and the only import that can wait, poll_oneoff on a clock,
 * suspends through JSPI instead of holding the worker. The same plugin serves WASI commands (`_start`)
 * and reactors that also import WASI.
 */
import { closeSync, constants, openSync } from 'node:fs';
import type { GuestConfig, HostInterface, InstanceHandle } from '../../engine/host-interface.ts';
import { errnoOf } from './abi.ts';
import { WasiContext } from './context.ts';
import type { Preopen } from './descriptors.ts';
import { fdImports } from './fd.ts';
import { pathImports } from './path.ts';
import { pollOneoff } from './poll.ts';
import { processImports } from './process.ts';

/** Every function of wasi_snapshot_preview1 (the import allow-list: deploy refuses any other name). */
export const WASI_FUNCTIONS: ReadonlySet<string> = new Set([
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
]);

const contexts = new WeakMap<InstanceHandle, WasiContext>();

/** A guest can open a pipe only under a granted directory; suspends() and bind() both ask this. */
const readsPipes = (config: GuestConfig): boolean => Object.keys(config.dirs).length > 0;

type Import = (...args: never[]) => number;
/** fd_read and poll_oneoff: four numbers in, an errno or the promise of one out. */
type Wait = (a: number, b: number, c: number, d: number) => number | Promise<number>;

/**
 * `fn` answering its errno instead of throwing. Wrappers of fixed arity for the imports that carry the
 * hot paths (a rest-and-spread wrapper cost a tenth of an open-read-close).
 */
/**
 * `fn` as a JSPI import that suspends the guest only when `fn` answers a promise (a plain value returns at
 * once), its errno either way.
 */
function suspending(fn: Wait): WebAssembly.Suspending {
  return new WebAssembly.Suspending(((a: number, b: number, c: number, d: number): number | Promise<number> => {
    try {
      const result = fn(a, b, c, d);
      return result instanceof Promise ? result.catch(errnoOf) : result;
    } catch (err) {
      return errnoOf(err);
    }
  }) as Wait as (...args: never[]) => Promise<number>);
}

function guarded(fn: Import): Import {
  const f = fn as (...args: unknown[]) => number;
  const errno = (err: unknown): number => errnoOf(err);
  switch (fn.length) {
    case 1:
      return ((a: unknown) => {
        try {
          return f(a);
        } catch (err) {
          return errno(err);
        }
      }) as Import;
    case 2:
      return ((a: unknown, b: unknown) => {
        try {
          return f(a, b);
        } catch (err) {
          return errno(err);
        }
      }) as Import;
    case 4:
      return ((a: unknown, b: unknown, c: unknown, d: unknown) => {
        try {
          return f(a, b, c, d);
        } catch (err) {
          return errno(err);
        }
      }) as Import;
    default:
      return ((...args: unknown[]) => {
        try {
          return f(...args);
        } catch (err) {
          return errno(err);
        }
      }) as Import;
  }
}

export const wasiPreview1: HostInterface = {
  module: 'wasi_snapshot_preview1',
  provides: (name) => WASI_FUNCTIONS.has(name),
  suspends: (name, config) => name === 'poll_oneoff' || (name === 'fd_read' && readsPipes(config)),
  bind(instance: InstanceHandle) {
    const ctx = new WasiContext(instance, preopensOf(instance.config));
    contexts.set(instance, ctx);
    const imports: Record<string, unknown> = {};
    const { fd_read: fdRead, ...fd } = fdImports(ctx);
    const raw = { ...processImports(ctx), ...fd, ...pathImports(ctx) } as Record<string, Import>;
    for (const [name, fn] of Object.entries(raw)) imports[name] = guarded(fn);
    // The two imports that may wait: a clock in poll_oneoff, a pipe with nothing yet in fd_read (only
    // where a directory is granted: without one, stdin is all a guest can read, and it never waits).
    imports.fd_read = readsPipes(instance.config) ? suspending(fdRead! as Wait) : guarded(fdRead! as Import);
    imports.poll_oneoff = suspending((inPtr: number, outPtr: number, nsubs: number, nevents: number) =>
      pollOneoff(ctx, inPtr, outPtr, nsubs, nevents),
    );
    return imports;
  },
  end(instance: InstanceHandle) {
    contexts.get(instance)?.end();
  },
};

/**
 * The host directories a function was granted, opened once per definition and thread and shared by all
 * its instances (a guest closing its preopen closes only its table's entry). Closed when the definition
 * is collected.
 */
const preopens = new WeakMap<GuestConfig, Preopen[]>();
const closer = new FinalizationRegistry<number[]>((fds) => {
  for (const fd of fds) closeSync(fd);
});

function preopensOf(config: GuestConfig): Preopen[] {
  let list = preopens.get(config);
  if (list) return list;
  list = Object.entries(config.dirs).map(([guest, host]) => {
    try {
      return { guest, host: openSync(host, constants.O_RDONLY | constants.O_DIRECTORY) };
    } catch (err) {
      throw new TypeError(`dirs: cannot open host directory '${host}' for guest path '${guest}': ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
  preopens.set(config, list);
  closer.register(
    config,
    list.map((p) => p.host),
  );
  return list;
}

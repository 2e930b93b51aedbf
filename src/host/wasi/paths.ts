/**
 * Confinement by construction (cap-std's approach): a guest path is resolved one component at a time from
 * a directory descriptor, each intermediate directory opened with O_DIRECTORY|O_NOFOLLOW relative to the
 * one before. Node has no openat, so "relative to a descriptor" is spelled `/proc/self/fd/<fd>/<name>`:
 * the kernel resolves the descriptor's own directory (wherever it has been renamed to) and then one name in
 * it. Symlinks are read and expanded here, never by the kernel; `..` pops the stack of opened directories
 * and cannot pop the base; an absolute path or symlink target never leaves it either. The last component
 * is handed to the operation as (parent descriptor, one name), and operations that follow it open it with
 * O_NOFOLLOW first, so a symlink swapped in behind our back is never followed.
 */
import { closeSync, constants, lstatSync, openSync, readlinkSync } from 'node:fs';
import { E, fail } from './abi.ts';

/** Linux's limits: PATH_MAX, NAME_MAX and the symlinks one lookup may expand (MAXSYMLINKS). */
export const PATH_MAX = 4096;
export const NAME_MAX = 255;
const MAX_SYMLINKS = 40;

const O_PATH = 0o10000000;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The host path naming `name` inside the directory open as `fd`, resolved by the kernel without escaping. */
export const at = (fd: number, name: string): string => `/proc/self/fd/${fd}/${name}`;
/** The host path of an open descriptor itself (stat and utimes through it reach exactly that inode). */
export const self = (fd: number): string => `/proc/self/fd/${fd}`;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A guest path's bytes as a string: EINVAL for NUL, EILSEQ for bytes that are not UTF-8, ENAMETOOLONG past PATH_MAX. */
export function decodePath(bytes: Uint8Array): string {
  if (bytes.length >= PATH_MAX) return fail(E.NAMETOOLONG);
  // Short ASCII paths, the usual ones, are read here: the decoder's own call costs more than the loop.
  if (bytes.length <= 64) {
    let text = '';
    for (const b of bytes) {
      if (b === 0) return fail(E.INVAL);
      if (b >= 0x80) return decodeUtf8(bytes);
      text += String.fromCharCode(b);
    }
    return text;
  }
  return decodeUtf8(bytes);
}

function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.includes(0)) return fail(E.INVAL);
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(E.ILSEQ);
  }
}

/** The end of a resolution: one name in an open directory. Call `release` when done with `dir`. */
export interface Resolved {
  readonly dir: number;
  /** One component, or `.` when the path names the directory itself. */
  readonly name: string;
  /** The path ended in `/`: the name must be a directory. */
  readonly slash: boolean;
  release(): void;
}

/** The host path an operation uses for a resolved name (with its trailing slash). */
export const hostPath = (r: Resolved): string => at(r.dir, r.slash && r.name !== '.' ? `${r.name}/` : r.name);

/**
 * Resolves `path` under the directory open as `base`. `follow`: expand a symlink in the last component too
 * (a trailing slash always does, as in POSIX). Never returns a name that is a symlink when following.
 */
export function resolve(base: number, path: string, follow: boolean): Resolved {
  if (path === '') return fail(E.NOENT);
  if (path.startsWith('/')) return fail(E.NOTCAPABLE);
  const stack = [base];
  const release = (): void => {
    for (let i = 1; i < stack.length; i++) closeSync(stack[i]!);
    stack.length = 1;
  };
  try {
    return walk(stack, path, follow, release);
  } catch (err) {
    release();
    throw err;
  }
}

function walk(stack: number[], path: string, follow: boolean, release: () => void): Resolved {
  let queue = split(path);
  let slash = path.endsWith('/');
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    const last = queue.length === 0;
    if (name === '.' || name === '..') {
      if (name === '..') {
        // The base is the root of what the guest may see: `..` out of it is an escape, not a lookup.
        if (stack.length === 1) return fail(E.NOTCAPABLE);
        closeSync(stack.pop()!);
      }
      if (last) return { dir: stack.at(-1)!, name: '.', slash, release };
      continue;
    }
    if (Buffer.byteLength(name) > NAME_MAX) return fail(E.NAMETOOLONG);
    const dir = stack.at(-1)!;
    if (last && !follow && !slash) return { dir, name, slash, release };
    const target = symlinkAt(dir, name, last);
    if (target === undefined) {
      if (last) return { dir, name, slash, release };
      stack.push(openSync(at(dir, name), DIR_FLAGS));
      continue;
    }
    if (last && slash && !follow) return fail(E.NOTDIR);
    if (++links > MAX_SYMLINKS) return fail(E.LOOP);
    if (target.startsWith('/')) return fail(E.NOTCAPABLE);
    if (target === '') return fail(E.NOENT);
    // The link's own trailing slash, or the rest of the path, decides whether the result must be a directory.
    if (last) slash = slash || target.endsWith('/');
    queue = [...split(target), ...queue];
    if (queue.length === 0) return { dir: stack.at(-1)!, name: '.', slash, release };
  }
  return { dir: stack.at(-1)!, name: '.', slash, release };
}

/** The target of `name` in `dir` when it is a symlink; undefined when it is anything else or absent (the operation reports that). */
function symlinkAt(dir: number, name: string, last: boolean): string | undefined {
  const st = lstatSync(at(dir, name), { throwIfNoEntry: false });
  if (!st) {
    if (last) return undefined;
    return fail(E.NOENT);
  }
  if (!st.isSymbolicLink()) {
    if (!last && !st.isDirectory()) return fail(E.NOTDIR);
    return undefined;
  }
  return readlinkSync(at(dir, name), 'utf8');
}

function split(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/**
 * The host path of the resolved name without its trailing slash: a trailing slash makes the kernel follow
 * a symlink in the last component, so callers say "must be a directory" with O_DIRECTORY instead.
 */
export const namePath = (r: Resolved): string => at(r.dir, r.name);

/**
 * Opens the resolved name itself without following a symlink (O_PATH: no read or write access needed), so
 * that stat and utimes through `self(fd)` reach exactly that inode: a symlink swapped in since resolution
 * is reached as the symlink itself, never its target.
 */
export function openPathNoFollow(r: Resolved): number {
  return openSync(namePath(r), O_PATH | constants.O_NOFOLLOW | (r.slash ? constants.O_DIRECTORY : 0));
}

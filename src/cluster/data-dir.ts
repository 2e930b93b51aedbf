/**
 * The registry of a node without Redis, in a local folder (`plume up --data-dir`, default
 * `$XDG_STATE_HOME/plume` or `~/.local/state/plume`), so a restart keeps its deployments:
 *
 *   DIR/lock                     the pid and host of the node using it (one node per folder)
 *   DIR/files/<sha256>           modules, workflow files, models, by content hash
 *   DIR/<functions|workflows|models>/<name>.json   one entry each
 *
 * Every file is written to a temporary name, flushed, then renamed over the old one: a node killed in the
 * middle leaves the old file or the new one, never half of one. Only one node writes (the lock), so there
 * is nothing to announce and versions need no coordination.
 */
import { randomBytes } from 'node:crypto';
import { hostname, homedir } from 'node:os';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { entryText, type EntryKind, type RegistryStore } from './registry-store.ts';

const FOLDERS: Record<EntryKind, string> = { function: 'functions', workflow: 'workflows', model: 'models' };

/** `$XDG_STATE_HOME/plume`, else `~/.local/state/plume` (the XDG base directory spec's place for state). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env['XDG_STATE_HOME'];
  return state && state.startsWith('/') ? join(state, 'plume') : join(homedir(), '.local', 'state', 'plume');
}

export class DataDirStore implements RegistryStore {
  readonly where: string;
  readonly #dir: string;
  #locked = false;

  private constructor(dir: string) {
    this.#dir = dir;
    this.where = dir;
  }

  /**
   * Creates the folder if needed and takes its lock. Throws an Error naming the folder when it cannot be
   * written (read-only, no permission) or another live node holds it.
   */
  static open(dir: string): DataDirStore {
    const store = new DataDirStore(resolve(dir));
    store.#lock();
    return store;
  }

  async entries(kind: EntryKind): Promise<Map<string, string>> {
    const folder = join(this.#dir, FOLDERS[kind]);
    const out = new Map<string, string>();
    for (const file of await readdir(folder).catch(() => [] as string[])) {
      if (!file.endsWith('.json')) continue;
      const name = decodeName(file.slice(0, -'.json'.length));
      const text = await readFile(join(folder, file), 'utf8').catch(() => undefined);
      if (text !== undefined) out.set(name, text);
    }
    return out;
  }

  async entry(kind: EntryKind, name: string): Promise<string | undefined> {
    return readFile(this.#entryPath(kind, name), 'utf8').catch(() => undefined);
  }

  async file(sha256: string): Promise<Uint8Array | undefined> {
    const bytes = await readFile(join(this.#dir, 'files', sha256)).catch(() => undefined);
    return bytes && new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async put(kind: EntryKind, name: string, fields: Record<string, unknown>, files: ReadonlyMap<string, Uint8Array>): Promise<number> {
    for (const [sha, bytes] of files) {
      const path = join(this.#dir, 'files', sha);
      // Compared, not trusted: a file changed on disk since must not stay under the hash it no longer has.
      const there = await this.file(sha);
      if (!there || !Buffer.from(there.buffer, there.byteOffset, there.byteLength).equals(bytes)) await writeAtomically(path, bytes);
    }
    const old = await this.entry(kind, name);
    const version = (versionOf(old) ?? 0) + 1;
    await writeAtomically(this.#entryPath(kind, name), entryText(version, fields));
    if (old !== undefined) await this.#collect(old);
    return version;
  }

  async delete(kind: EntryKind, name: string): Promise<boolean> {
    const old = await this.entry(kind, name);
    if (old === undefined) return false;
    await unlink(this.#entryPath(kind, name));
    await this.#collect(old);
    return true;
  }

  /** Nobody else writes here (the lock): nothing to watch. */
  async watch(): Promise<void> {}

  async close(): Promise<void> {
    if (!this.#locked) return;
    this.#locked = false;
    try {
      unlinkSync(join(this.#dir, 'lock'));
    } catch {
      // Already gone: nothing holds the folder either way.
    }
  }

  #entryPath(kind: EntryKind, name: string): string {
    return join(this.#dir, FOLDERS[kind], `${encodeURIComponent(name)}.json`);
  }

  /** Deletes the files the old entry named that no entry names any more. */
  async #collect(old: string): Promise<void> {
    const candidates = new Set(old.match(/[0-9a-f]{64}/g) ?? []);
    if (!candidates.size) return;
    for (const kind of Object.keys(FOLDERS) as EntryKind[]) {
      for (const text of (await this.entries(kind)).values()) for (const sha of candidates) if (text.includes(sha)) candidates.delete(sha);
    }
    for (const sha of candidates) await unlink(join(this.#dir, 'files', sha)).catch(() => {});
  }

  /**
   * One node per folder: two would overwrite each other's entries. The lock file holds `pid host`; a lock
   * left by a process that is gone (killed, or this very pid in an earlier life of a container) is taken over.
   */
  #lock(): void {
    const path = join(this.#dir, 'lock');
    try {
      mkdirSync(this.#dir, { recursive: true });
      for (const folder of [...Object.values(FOLDERS), 'files']) mkdirSync(join(this.#dir, folder), { recursive: true });
    } catch (err) {
      throw unwritable(this.#dir, err);
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, `${process.pid} ${hostname()}\n`, { flag: 'wx' });
        this.#locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(this.#dir, err);
      }
      const holder = readLock(path);
      const [pid, host] = holder.trim().split(' ');
      if (host === hostname() && Number(pid) !== process.pid && alive(Number(pid))) {
        throw new Error(
          `the data directory ${this.#dir} is in use by another plume node (pid ${pid}): give this node its own --data-dir, or --no-data-dir`,
        );
      }
      if (host !== undefined && host !== hostname()) {
        throw new Error(
          `the data directory ${this.#dir} is locked by a node on host ${host} (pid ${pid}); if that node is gone, remove ${path}`,
        );
      }
      unlinkSync(path);
    }
    throw new Error(`could not take the lock ${path}: another node is starting on the same data directory`);
  }
}

/** A file name that is not what `#entryPath` writes stays as it is: the registry then skips it as a bad name. */
function decodeName(stem: string): string {
  try {
    return decodeURIComponent(stem);
  } catch {
    return stem;
  }
}

function readLock(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unwritable(dir: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new Error(
    `the data directory ${dir} cannot be written (${code}): pick a writable one with --data-dir, or run without one (--no-data-dir)`,
    { cause: err },
  );
}

function versionOf(text: string | undefined): number | undefined {
  const match = text === undefined ? null : /^\{"version":(\d+)/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Temp file in the same folder (rename is atomic only within one filesystem), flushed before the rename. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

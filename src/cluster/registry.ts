/**
 * The one registry (docs/cluster.md, Registry): what was deployed on any node — functions, workflows,
 * models — kept in a store (Redis, or a local data directory), so that every node serves it and a node that
 * starts or restarts loads it before it reports ready. A node changes its own runtime first (that checks
 * the module or spec), then records the change; the other nodes hear of it and read the entry again.
 *
 * Every change of this node's runtime, its own or one heard of, runs one at a time (`#exclusive`), so a
 * deploy and an announcement of the same name cannot interleave. A node applies an entry only when its
 * version differs from the one it applied: its own writes come back as announcements and are skipped.
 * Bad input costs only itself: an entry that does not parse, names a file that is missing, or a file whose
 * bytes do not have its hash is logged and skipped, and what the node served under that name stays.
 */
import { NAME } from '../engine/definition.ts';
import { PlumeError } from '../errors.ts';
import { ENTRY_KINDS, SHA256_HEX, sha256Hex, type EntryKind, type RegistryStore } from './registry-store.ts';

/** A function as deployed: the module's hash, its deploy options, the gateway's settings, its invoke token's digest. */
export interface FunctionEntry {
  readonly version: number;
  readonly sha256: string;
  readonly options: Record<string, unknown>;
  readonly settings: { readonly contentType?: string; readonly queue?: number };
  readonly invokeDigest?: string;
}

/** A workflow as applied: its spec text and the contents of each path it names (by the path as written). */
export interface WorkflowEntry {
  readonly version: number;
  readonly spec: string;
  readonly files: Readonly<Record<string, string>>;
  readonly invokeDigest?: string;
}

export interface ModelEntry {
  readonly version: number;
  readonly sha256: string;
}

/** What the registry changes on this node (the gateway implements it: runtime, settings, tokens). */
export interface RegistryTarget {
  deployFunction(name: string, module: Uint8Array, entry: FunctionEntry): Promise<unknown>;
  /** Throws when the spec names another workflow than `name`. */
  applyWorkflow(name: string, spec: string, files: ReadonlyMap<string, Uint8Array>, entry: WorkflowEntry): Promise<unknown>;
  addModel(name: string, model: Uint8Array): Promise<unknown>;
  /** Removes what this node serves under the name; a name it does not serve is no error. */
  remove(kind: EntryKind, name: string): Promise<void>;
}

/** What a change made on this node records: the entry without its version, and the files it names by hash. */
export interface RecordedChange {
  readonly name: string;
  readonly fields: Record<string, unknown>;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** A change made on this node, with what the change answered. */
export interface LocalChange<R> extends RecordedChange {
  readonly result: R;
}

export interface RegistryOptions {
  /** Where the lines about loads, refusals and skips go (the CLI passes stderr). */
  readonly log?: (line: string) => void;
}

/** The version a node holds when it changed itself but could not record it: the next resync puts it right. */
const UNRECORDED = -1;

export class Registry {
  readonly #store: RegistryStore;
  readonly #log: (line: string) => void;
  /** `<kind>:<name>` → the version this node applied. */
  readonly #applied = new Map<string, number>();
  #target: RegistryTarget | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #loaded = false;
  #resyncing = false;
  /** A resync failed and has not succeeded since. */
  #behind = false;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  /** `--redis-optional`: a store that cannot be reached is waited for, never a reason to refuse a change. */
  #optional = false;
  /** Changes made here while an optional store was out of reach, recorded first thing once it is back. */
  readonly #pending = new Map<string, { readonly kind: EntryKind } & RecordedChange>();
  /** Entries refused or skipped, `<kind>:<name>` → why, until a good version of that name arrives. */
  readonly skipped = new Map<string, string>();
  /** What `attach` loaded and skipped. */
  firstLoad: { readonly loaded: number; readonly skipped: number } | undefined;

  constructor(store: RegistryStore, options: RegistryOptions = {}) {
    this.#store = store;
    this.#log = options.log ?? (() => {});
  }

  /** For /readyz (GatewayOptions.readiness): true once the registry has been loaded. */
  readonly readiness = {
    name: 'registry loaded',
    check: (): true | string => (this.#loaded ? true : 'the registry is still loading'),
  };

  get where(): string {
    return this.#store.where;
  }

  /**
   * Listens for changes, then loads every entry into `target`. Throws when the store cannot be read (the
   * node must not serve without its registry); entries that are bad are logged and skipped.
   */
  async attach(target: RegistryTarget, options: { optional?: boolean } = {}): Promise<{ loaded: number; skipped: number }> {
    this.#target = target;
    this.#optional = options.optional ?? false;
    // Listening first: a change made during the load is applied after it, never lost between the two.
    await this.#store.watch({
      changed: (kind, name) => void this.#exclusive(() => this.#sync(kind, name)).catch((err) => this.#failed(kind, name, err)),
      resync: () => this.#resyncSoon(),
    });
    let counts: { loaded: number; skipped: number };
    try {
      counts = await this.#exclusive(() => this.#resync());
    } catch (err) {
      if (!options.optional) throw err;
      // --redis-optional: serve what is deployed here meanwhile; the registry is read once it can be.
      this.#behind = true;
      this.#log(`plume: registry: cannot read ${this.where} (${(err as Error).message}); serving without it until it can be read`);
      this.#resyncSoon(100);
      return { loaded: 0, skipped: 0 };
    }
    this.#loaded = true;
    this.firstLoad = counts;
    return counts;
  }

  /**
   * This node makes a change (`local`, which throws if the runtime refuses it), then records it so every
   * node makes it. When recording fails the node is ahead of the registry; it says so and is put back in
   * line by the next resync.
   */
  put<R>(kind: EntryKind, local: () => Promise<LocalChange<R>>): Promise<R> {
    return this.#exclusive(async () => {
      const change = await local();
      checkName(kind, change.name);
      const key = `${kind}:${change.name}`;
      this.#applied.set(key, UNRECORDED);
      try {
        this.#applied.set(key, await this.#store.put(kind, change.name, change.fields, change.files));
      } catch (err) {
        if (this.#optional && (err as PlumeError).code === 'PLUME_ESTATE_UNAVAILABLE') {
          this.#pending.set(key, { kind, name: change.name, fields: change.fields, files: change.files });
          this.#log(`plume: registry: ${kind} '${change.name}' is served here; it is recorded in ${this.where} once that can be reached`);
          this.#resyncSoon(100);
          return change.result;
        }
        this.#log(`plume: registry: ${kind} '${change.name}' is served here but could not be recorded: ${(err as Error).message}`);
        this.#resyncSoon();
        throw err;
      }
      this.skipped.delete(key);
      return change.result;
    });
  }

  /** Removes the name here (`local`: false when this node did not serve it) and from the registry; false when neither had it. */
  delete(kind: EntryKind, name: string, local: () => Promise<boolean>): Promise<boolean> {
    return this.#exclusive(async () => {
      const here = await local();
      this.#pending.delete(`${kind}:${name}`);
      this.#applied.delete(`${kind}:${name}`);
      this.skipped.delete(`${kind}:${name}`);
      try {
        return (await this.#store.delete(kind, name)) || here;
      } catch (err) {
        if (this.#optional && (err as PlumeError).code === 'PLUME_ESTATE_UNAVAILABLE' && here) {
          // Single-node until the store is back: removed here; an entry it held comes back with the next read.
          this.#log(`plume: registry: ${kind} '${name}' was removed here; ${this.where} cannot be reached to remove it there`);
          return true;
        }
        // Gone here, still in the registry: the next resync brings it back, as the failed answer says.
        this.#log(`plume: registry: ${kind} '${name}' was removed here but not from the registry: ${(err as Error).message}`);
        this.#resyncSoon();
        throw err;
      }
    });
  }

  /** Whether the registry has an entry of that name (a node may hold one it could not load). */
  async has(kind: EntryKind, name: string): Promise<boolean> {
    return (await this.#store.entry(kind, name)) !== undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#queue.catch(() => {});
    await this.#store.close();
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Reads everything again, now and, while the store cannot be read, again after 0.1 s, 0.2 s… up to 5 s
   * apart until it can (its connections may come back one at a time). One line when it fails, one when
   * it has been read again.
   */
  #resyncSoon(delayMs = 0): void {
    if (this.#resyncing || !this.#target || this.#closed) return;
    this.#resyncing = true;
    const attempt = (): void =>
      void this.#exclusive(async () => {
        this.#resyncing = false;
        await this.#resync();
      }).then(
        () => {
          if (this.#behind) this.#log(`plume: registry: read ${this.where} again; this node is in line with it`);
          this.#behind = false;
        },
        (err: unknown) => {
          if (!this.#behind) this.#log(`plume: registry: cannot read ${this.where} (${(err as Error).message}); retrying`);
          this.#behind = true;
          this.#resyncSoon(Math.min(Math.max(delayMs * 2, 100), 5000));
        },
      );
    if (delayMs === 0) attempt();
    else this.#retry = setTimeout(attempt, delayMs).unref();
  }

  /** Reads every entry: applies those that changed, removes what this node applied that is gone. */
  async #resync(): Promise<{ loaded: number; skipped: number }> {
    const counts = { loaded: 0, skipped: 0 };
    for (const [key, change] of this.#pending) {
      this.#applied.set(key, await this.#store.put(change.kind, change.name, change.fields, change.files));
      this.#pending.delete(key);
    }
    const all = new Map<EntryKind, Map<string, string>>();
    for (const kind of ENTRY_KINDS) all.set(kind, await this.#store.entries(kind));
    // A registry with nothing in it while this node serves entries is far likelier a Redis that came
    // back without its data than every name removed while this node was away: keep serving them.
    const empty = [...all.values()].every((entries) => entries.size === 0);
    if (empty && this.#applied.size) {
      this.#log(
        `plume: registry: ${this.where} is empty, but this node serves ${this.#applied.size} entries from it: ` +
          'keeping them (a store that lost its data?); deploy them again to record them',
      );
    }
    for (const kind of ENTRY_KINDS) {
      const entries = all.get(kind)!;
      for (const [name, text] of entries) {
        const outcome = await this.#apply(kind, name, text);
        if (outcome === 'applied') counts.loaded++;
        if (outcome === 'skipped') counts.skipped++;
      }
      if (empty) continue;
      for (const key of [...this.#applied.keys()]) {
        const [k, name] = splitKey(key);
        if (k === kind && !entries.has(name)) await this.#removeHere(kind, name);
      }
    }
    return counts;
  }

  async #sync(kind: EntryKind, name: string): Promise<void> {
    const text = await this.#store.entry(kind, name);
    if (text === undefined) await this.#removeHere(kind, name);
    else await this.#apply(kind, name, text);
  }

  async #removeHere(kind: EntryKind, name: string): Promise<void> {
    const key = `${kind}:${name}`;
    this.skipped.delete(key);
    if (!this.#applied.has(key)) return;
    await this.#target!.remove(kind, name);
    this.#applied.delete(key);
    this.#log(`plume: registry: removed ${kind} '${name}' (deleted from the registry)`);
  }

  /** Applies one entry unless this node holds that version; a bad one is logged and skipped. */
  async #apply(kind: EntryKind, name: string, text: string): Promise<'applied' | 'unchanged' | 'skipped'> {
    const key = `${kind}:${name}`;
    const skip = (reason: string): 'skipped' => {
      this.skipped.set(key, reason);
      this.#log(`plume: registry: skipped ${kind} '${name}': ${reason}; what this node served under that name stays`);
      return 'skipped';
    };
    let entry: FunctionEntry | WorkflowEntry | ModelEntry;
    try {
      checkName(kind, name);
      entry = parseEntry(kind, text);
    } catch (err) {
      return skip(`the entry is corrupt (${(err as Error).message})`);
    }
    if (this.#applied.get(key) === entry.version) return 'unchanged';
    const files = new Map<string, Uint8Array>();
    for (const sha of hashesOf(kind, entry)) {
      const bytes = await this.#store.file(sha);
      if (!bytes) return skip(`its file ${sha} is missing from the registry`);
      const actual = sha256Hex(bytes);
      if (actual !== sha) return skip(`refused: its file ${sha} has the hash ${actual} (the bytes are not what was deployed)`);
      files.set(sha, bytes);
    }
    try {
      await this.#applyToTarget(kind, name, entry, files);
    } catch (err) {
      return skip(`this node cannot apply it (${(err as Error).message})`);
    }
    this.#applied.set(key, entry.version);
    this.skipped.delete(key);
    // The first load is summed up once (firstLoad); later changes are worth a line each.
    if (this.#loaded) this.#log(`plume: registry: loaded ${kind} '${name}' version ${entry.version}`);
    return 'applied';
  }

  async #applyToTarget(kind: EntryKind, name: string, entry: object, files: Map<string, Uint8Array>): Promise<void> {
    const target = this.#target!;
    if (kind === 'function') {
      const fn = entry as FunctionEntry;
      await target.deployFunction(name, files.get(fn.sha256)!, fn);
    } else if (kind === 'model') {
      await target.addModel(name, files.get((entry as ModelEntry).sha256)!);
    } else {
      const wf = entry as WorkflowEntry;
      const byPath = new Map(Object.entries(wf.files).map(([path, sha]) => [path, files.get(sha)!]));
      await target.applyWorkflow(name, wf.spec, byPath, wf);
    }
  }

  #failed(kind: EntryKind, name: string, err: unknown): void {
    this.#log(`plume: registry: could not read ${kind} '${name}' from ${this.where}: ${(err as Error).message}`);
    this.#resyncSoon();
  }
}

function splitKey(key: string): [EntryKind, string] {
  const at = key.indexOf(':');
  return [key.slice(0, at) as EntryKind, key.slice(at + 1)];
}

function checkName(kind: EntryKind, name: string): void {
  if (!NAME.test(name)) throw new PlumeError('PLUME_EINPUT', `${kind} name must match ${NAME}, got '${name}'`);
}

function hashesOf(kind: EntryKind, entry: FunctionEntry | WorkflowEntry | ModelEntry): string[] {
  if (kind === 'workflow') return [...new Set(Object.values((entry as WorkflowEntry).files))];
  return [(entry as FunctionEntry | ModelEntry).sha256];
}

/** Checks an entry's shape; throws a message naming the first field that is wrong. */
export function parseEntry(kind: EntryKind, text: string): FunctionEntry | WorkflowEntry | ModelEntry {
  const raw = JSON.parse(text) as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  const { version, sha256, invokeDigest } = raw;
  if (!Number.isSafeInteger(version) || (version as number) < 1) throw new Error('version must be a positive integer');
  if (invokeDigest !== undefined && (typeof invokeDigest !== 'string' || !SHA256_HEX.test(invokeDigest))) {
    throw new Error('invokeDigest must be 64 hex digits');
  }
  if (kind !== 'workflow' && (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))) throw new Error('sha256 must be 64 hex digits');
  if (kind === 'function') {
    if (typeof raw['options'] !== 'object' || raw['options'] === null) throw new Error('options must be an object');
    if (typeof raw['settings'] !== 'object' || raw['settings'] === null) throw new Error('settings must be an object');
  }
  if (kind === 'workflow') {
    if (typeof raw['spec'] !== 'string') throw new Error('spec must be a string');
    const files = raw['files'];
    if (typeof files !== 'object' || files === null) throw new Error('files must be an object');
    for (const sha of Object.values(files))
      if (typeof sha !== 'string' || !SHA256_HEX.test(sha)) throw new Error('files must map paths to sha256s');
  }
  return raw as unknown as FunctionEntry | WorkflowEntry | ModelEntry;
}

/**
 * Where the registry keeps what was deployed (docs/cluster.md, Registry): entries (one JSON document per
 * function, workflow and model) and the files they name (modules, workflow files, models), by SHA-256.
 * Two backends: Redis (`--redis`: every node shares it, changes are announced on pub/sub) and a local data
 * directory (`--data-dir`: one node, so nothing to announce). The store only keeps bytes and text; the
 * registry parses entries and checks each file against its hash, so a bad entry costs that entry alone.
 */
import { createHash } from 'node:crypto';

export type EntryKind = 'function' | 'workflow' | 'model';

/** Order of a full load: models and functions before the workflows whose steps call them. */
export const ENTRY_KINDS: readonly EntryKind[] = ['model', 'function', 'workflow'];

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What a store tells the registry about changes it did not make itself. */
export interface StoreListener {
  /** Another node changed (or deleted) this entry: read it again. */
  changed(kind: EntryKind, name: string): void;
  /** Announcements may have been missed (the store reconnected): read everything again. */
  resync(): void;
}

export interface RegistryStore {
  /** Where it is, for logs (a Redis URL without its password, or a folder). */
  readonly where: string;
  /** Every entry of a kind, name → its raw text (unparsed: a corrupt one must not hide the others). */
  entries(kind: EntryKind): Promise<Map<string, string>>;
  /** One entry's raw text, or undefined when there is none. */
  entry(kind: EntryKind, name: string): Promise<string | undefined>;
  /** The bytes stored under a hash (not checked here), or undefined. */
  file(sha256: string): Promise<Uint8Array | undefined>;
  /**
   * Stores the files (by their hash) and then the entry `fields` (a JSON object), atomically as far as
   * the backend allows, with the entry's next version added; announces the change; answers the version.
   * Files no entry names any more afterwards are deleted.
   */
  put(kind: EntryKind, name: string, fields: Record<string, unknown>, files: ReadonlyMap<string, Uint8Array>): Promise<number>;
  /** Deletes the entry (and the files no other entry names) and announces it; false when there was none. */
  delete(kind: EntryKind, name: string): Promise<boolean>;
  /** Starts telling `listener` about changes from elsewhere; resolves once announcements are being received. */
  watch(listener: StoreListener): Promise<void>;
  close(): Promise<void>;
}

/** `{ "version": n, ...fields }`: the version first, so a reader (or Lua) finds it without parsing it all. */
export function entryText(version: number, fields: Record<string, unknown>): string {
  const rest = JSON.stringify(fields);
  return rest === '{}' ? `{"version":${version}}` : `{"version":${version},${rest.slice(1)}`;
}

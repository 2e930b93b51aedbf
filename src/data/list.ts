/**
 * A list of byte strings in one buffer: how a batch reaches a guest, how a join hands a step several inputs,
 * and how a step hands a `map` the items to fan out over. Little-endian: `u32 count`, then per item
 * `u32 length` and the bytes. Guests parse it with `plume_list_*` (sdk/c/plume.h) or `List` (sdk/assemblyscript).
 */
import { PlumeError } from '../errors.ts';

const HEADER = 4;

export function encodeList(items: readonly Uint8Array[]): Uint8Array {
  let size = HEADER;
  for (const item of items) size += HEADER + item.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, items.length, true);
  let at = HEADER;
  for (const item of items) {
    view.setUint32(at, item.length, true);
    out.set(item, at + HEADER);
    at += HEADER + item.length;
  }
  return out;
}

/** The items of a list, as views into `bytes` (no copies). Throws PLUME_EINPUT on a malformed list. */
export function decodeList(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < HEADER) throw malformed(`${bytes.length} bytes is shorter than the 4-byte count`);
  const count = view.getUint32(0, true);
  // Each item takes at least its 4-byte length: a count past that cannot be honest (and must not allocate).
  if (count > (bytes.length - HEADER) / HEADER) throw malformed(`count ${count} does not fit in ${bytes.length} bytes`);
  const items: Uint8Array[] = [];
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    if (at + HEADER > bytes.length) throw malformed(`item ${i} has no length`);
    const length = view.getUint32(at, true);
    at += HEADER;
    if (at + length > bytes.length) throw malformed(`item ${i} (${length} bytes) runs past the end`);
    items.push(bytes.subarray(at, at + length));
    at += length;
  }
  if (at !== bytes.length) throw malformed(`${bytes.length - at} bytes follow the last item`);
  return items;
}

function malformed(why: string): PlumeError {
  return new PlumeError('PLUME_EINPUT', `malformed list: ${why}`);
}

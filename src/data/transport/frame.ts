/**
 * The binary framing shared by the socket transports (`local` and `networked`). A frame is a fixed
 * 20-byte header followed by its payload:
 *
 *   offset size field
 *   0      2    magic 0x504C ("PL"), big-endian
 *   2      1    version (1)
 *   3      1    type (FrameType)
 *   4      1    flags (none defined; must be 0)
 *   5      1    reserved (must be 0)
 *   6      2    aux: for a request, the byte length of the method name that opens the payload; else 0
 *   8      4    id: the request id that pairs a response with its request
 *   12     4    payload length
 *   16     4    CRC-32 of bytes 0..15
 *
 * The CRC covers the header only: a payload is protected by the stream below (TCP, or a Unix socket that
 * cannot corrupt), while a corrupt length would make the decoder wait for, or allocate, the wrong number
 * of bytes. Checking the header is what lets a decoder drop garbage at once instead of buffering it.
 *
 * The length is 32 bits because nothing bigger than 4 GiB fits in a 32-bit Wasm memory, the final home
 * of every payload; the decoder enforces a smaller, configurable limit (`DEFAULT_MAX_PAYLOAD`).
 */
import { crc32 } from 'node:zlib';
import { PlumeError } from '../../errors.ts';

export const FRAME_MAGIC = 0x504c;
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 20;
/** The largest length the header can express. */
export const MAX_FRAME_PAYLOAD = 0xffff_ffff;
/** Large enough for a 100 MB payload with room to spare; small enough that one bad peer cannot claim GiBs. */
export const DEFAULT_MAX_PAYLOAD = 256 * 1024 * 1024;

export const FrameType = {
  /** payload = method name (aux bytes, UTF-8) + body */
  Request: 1,
  /** payload = the handler's result */
  Response: 2,
  /** payload = JSON `{ code, message, details }` */
  Error: 3,
  /** no payload: the client gave up on request `id` (timeout); the server may stop its work */
  Cancel: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export interface FrameHeader {
  type: FrameType;
  aux: number;
  id: number;
  length: number;
}

export interface Frame extends FrameHeader {
  /** Exactly `length` bytes in an ArrayBuffer of its own (never a slice of a socket chunk). */
  payload: Uint8Array;
}

/** The 20 header bytes of a frame; the caller writes the payload after them without joining the two. */
export function encodeHeader(header: FrameHeader): Buffer {
  const { type, aux, id, length } = header;
  if (!Number.isInteger(aux) || aux < 0 || aux > 0xffff) throw new RangeError(`frame aux must fit in u16, got ${aux}`);
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) throw new RangeError(`frame id must fit in u32, got ${id}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_PAYLOAD)
    throw new RangeError(`frame length must fit in u32, got ${length}`);
  const bytes = Buffer.allocUnsafe(HEADER_BYTES);
  bytes.writeUInt16BE(FRAME_MAGIC, 0);
  bytes[2] = FRAME_VERSION;
  bytes[3] = type;
  bytes[4] = 0;
  bytes[5] = 0;
  bytes.writeUInt16BE(aux, 6);
  bytes.writeUInt32BE(id, 8);
  bytes.writeUInt32BE(length, 12);
  bytes.writeUInt32BE(crc32(bytes.subarray(0, 16)), 16);
  return bytes;
}

/** Validates a complete header; throws `PLUME_EFRAME` naming the first fault. */
export function decodeHeader(bytes: Uint8Array, maxPayload: number = DEFAULT_MAX_PAYLOAD): FrameHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const magic = view.getUint16(0);
  if (magic !== FRAME_MAGIC) throw frameError(`bad magic 0x${magic.toString(16).padStart(4, '0')}`);
  const expected = view.getUint32(16);
  const actual = crc32(bytes.subarray(0, 16));
  if (actual !== expected) throw frameError(`header checksum mismatch (0x${actual.toString(16)} ≠ 0x${expected.toString(16)})`);
  const version = view.getUint8(2);
  if (version !== FRAME_VERSION) throw frameError(`unsupported version ${version}`);
  const type = view.getUint8(3);
  if (!KNOWN_TYPES.has(type)) throw frameError(`unknown frame type ${type}`);
  if (view.getUint8(4) !== 0 || view.getUint8(5) !== 0) throw frameError('reserved header bits are set');
  const aux = view.getUint16(6);
  const id = view.getUint32(8);
  const length = view.getUint32(12);
  if (length > maxPayload) throw frameError(`payload of ${length} bytes exceeds the limit of ${maxPayload}`);
  if (type === FrameType.Request ? aux > length : aux !== 0) throw frameError(`aux ${aux} is invalid for type ${type}`);
  if (type === FrameType.Cancel && length !== 0) throw frameError('a cancel frame carries no payload');
  return { type: type as FrameType, aux, id, length };
}

/**
 * Turns a byte stream cut at arbitrary points back into frames. It holds at most one frame: the header
 * being filled, or the payload being filled. The payload buffer is allocated once its header is valid,
 * and every chunk is copied into it exactly once, so a 100 MB payload costs one copy and one allocation,
 * never a chain of concatenations.
 */
export class FrameDecoder {
  readonly #onFrame: (frame: Frame) => void;
  readonly #maxPayload: number;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFilled = 0;
  #current: FrameHeader | undefined;
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  #failed: PlumeError | undefined;

  constructor(onFrame: (frame: Frame) => void, options: { maxPayload?: number } = {}) {
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(maxPayload) || maxPayload < 0 || maxPayload > MAX_FRAME_PAYLOAD)
      throw new RangeError(`maxPayload must be an integer in [0, ${MAX_FRAME_PAYLOAD}], got ${maxPayload}`);
    this.#onFrame = onFrame;
    this.#maxPayload = maxPayload;
  }

  /** Bytes received of the frame in progress and its declared size; undefined between frames. */
  get partial(): { received: number; length: number } | undefined {
    if (this.#current) return { received: HEADER_BYTES + this.#payloadFilled, length: HEADER_BYTES + this.#current.length };
    if (this.#headerFilled > 0) return { received: this.#headerFilled, length: HEADER_BYTES };
    return undefined;
  }

  /**
   * Feeds one chunk; calls `onFrame` for every frame it completes. Throws `PLUME_EFRAME` on a malformed
   * header, and keeps throwing it afterwards: the stream cannot be resynchronised, so drop the connection.
   */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    let at = 0;
    while (at < chunk.length) {
      if (this.#current === undefined) {
        const n = Math.min(HEADER_BYTES - this.#headerFilled, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerFilled);
        this.#headerFilled += n;
        at += n;
        if (this.#headerFilled === HEADER_BYTES) this.#startPayload();
      } else {
        const payload = this.#payload!;
        const n = Math.min(payload.length - this.#payloadFilled, chunk.length - at);
        payload.set(chunk.subarray(at, at + n), this.#payloadFilled);
        this.#payloadFilled += n;
        at += n;
        if (this.#payloadFilled === payload.length) this.#emit();
      }
    }
  }

  #startPayload(): void {
    try {
      this.#current = decodeHeader(this.#header, this.#maxPayload);
    } catch (e) {
      this.#failed = e as PlumeError;
      throw e;
    }
    // A fresh ArrayBuffer per payload (not Buffer's shared pool): receivers may transfer it to a worker.
    this.#payload = new Uint8Array(this.#current.length);
    this.#payloadFilled = 0;
    if (this.#current.length === 0) this.#emit();
  }

  #emit(): void {
    const frame: Frame = { ...this.#current!, payload: this.#payload! };
    this.#current = undefined;
    this.#payload = undefined;
    this.#headerFilled = 0;
    this.#payloadFilled = 0;
    this.#onFrame(frame);
  }
}

function frameError(reason: string): PlumeError {
  return new PlumeError('PLUME_EFRAME', `malformed frame: ${reason}`);
}

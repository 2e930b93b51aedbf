/**
 * The binary framing shared by the socket transports (`local` and `networked`). A frame is a fixed
 * 20-byte header followed by its payload:
 *
 *   offset size field
 *   0      2    magic 0x504C ("PL"), big-endian
 *   2      1    version (1)
 *   3      1    type (FrameType)
 *   4      1    flags (FrameFlag; only a Request may set one)
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
import { HANDSHAKE_MAGIC16 } from './handshake.ts';

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
  /** payload = u32 BE: how many bytes of request `id`'s shared body (FrameFlag.Shared) the client has written */
  Progress: 5,
  /** id 0, no payload: a client whose connection has been quiet asks whether the server still lives (liveness.ts) */
  Ping: 6,
  /** id 0, no payload: the server's answer to pings, from its main thread */
  Pong: 7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FrameFlag = {
  /**
   * A Request whose body is not in the frame: after the method comes a pull reference (`encodePullRef`),
   * and the server fetches the body from the client as the response of a request of its own.
   */
  Pull: 1,
  /**
   * `local` mode only: a Request whose body the client writes into a shared-memory file (shared-files.ts)
   * while the request travels. After the method comes a reference in the pull reference's encoding whose
   * address is the file's `/proc/<pid>/fd/<fd>` path and whose token is unused (zeros); Progress frames
   * then say how much of the body the file holds, so the server reads it as it is written.
   */
  Shared: 2,
} as const;

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));
const KNOWN_FLAGS = FrameFlag.Pull | FrameFlag.Shared;

export interface FrameHeader {
  type: FrameType;
  /** FrameFlag bits; 0 when absent. */
  flags?: number;
  aux: number;
  id: number;
  length: number;
}

export interface Frame extends FrameHeader {
  flags: number;
  /** Exactly `length` bytes, in a buffer of their own or the one `allocate` gave (never a socket chunk). */
  payload: Uint8Array;
  /** Payload bytes the decoder copied; the rest the kernel wrote in place (see FrameDecoder). */
  copied: number;
}

/** The 20 header bytes of a frame; the caller writes the payload after them without joining the two. */
export function encodeHeader(header: FrameHeader): Buffer {
  const { type, flags = 0, aux, id, length } = header;
  if (!Number.isInteger(aux) || aux < 0 || aux > 0xffff) throw new RangeError(`frame aux must fit in u16, got ${aux}`);
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) throw new RangeError(`frame id must fit in u32, got ${id}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_PAYLOAD)
    throw new RangeError(`frame length must fit in u32, got ${length}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`frame flags must fit in u8, got ${flags}`);
  const bytes = Buffer.allocUnsafe(HEADER_BYTES);
  bytes.writeUInt16BE(FRAME_MAGIC, 0);
  bytes[2] = FRAME_VERSION;
  bytes[3] = type;
  bytes[4] = flags;
  bytes[5] = 0;
  bytes.writeUInt16BE(aux, 6);
  bytes.writeUInt32BE(id, 8);
  bytes.writeUInt32BE(length, 12);
  bytes.writeUInt32BE(crc32(bytes.subarray(0, 16)), 16);
  return bytes;
}

/**
 * A ping's and a pong's whole bytes: a header with nothing variable in it (id 0, no payload), so each is
 * one constant, recognised by comparing bytes and written without encoding anything.
 */
export const PING_FRAME = encodeHeader({ type: FrameType.Ping, aux: 0, id: 0, length: 0 });
export const PONG_FRAME = encodeHeader({ type: FrameType.Pong, aux: 0, id: 0, length: 0 });

/** Validates a complete header; throws `PLUME_EFRAME` naming the first fault. */
export function decodeHeader(bytes: Uint8Array, maxPayload: number = DEFAULT_MAX_PAYLOAD): Required<FrameHeader> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const magic = view.getUint16(0);
  if (magic === HANDSHAKE_MAGIC16)
    throw frameError('the peer opened with an authentication handshake: it needs a cluster secret, and this end has none');
  if (magic !== FRAME_MAGIC) throw frameError(`bad magic 0x${magic.toString(16).padStart(4, '0')}`);
  const expected = view.getUint32(16);
  const actual = crc32(bytes.subarray(0, 16));
  if (actual !== expected) throw frameError(`header checksum mismatch (0x${actual.toString(16)} ≠ 0x${expected.toString(16)})`);
  const version = view.getUint8(2);
  if (version !== FRAME_VERSION) throw frameError(`unsupported version ${version}`);
  const type = view.getUint8(3);
  if (!KNOWN_TYPES.has(type)) throw frameError(`unknown frame type ${type}`);
  const flags = view.getUint8(4);
  if (view.getUint8(5) !== 0 || (flags & ~KNOWN_FLAGS) !== 0) throw frameError('reserved header bits are set');
  if (flags !== 0 && type !== FrameType.Request) throw frameError(`flags ${flags} are invalid for type ${type}`);
  const aux = view.getUint16(6);
  const id = view.getUint32(8);
  const length = view.getUint32(12);
  if (length > maxPayload) throw frameError(`payload of ${length} bytes exceeds the limit of ${maxPayload}`);
  if (type === FrameType.Request ? aux > length : aux !== 0) throw frameError(`aux ${aux} is invalid for type ${type}`);
  if (type === FrameType.Cancel && length !== 0) throw frameError('a cancel frame carries no payload');
  if (type === FrameType.Progress && length !== 4) throw frameError(`a progress frame carries 4 bytes, not ${length}`);
  if ((type === FrameType.Ping || type === FrameType.Pong) && (length !== 0 || id !== 0))
    throw frameError('a ping or pong frame is its header alone, with id 0');
  return { type: type as FrameType, flags, aux, id, length };
}

export interface DecoderOptions {
  /** Frames with a larger payload are malformed (default `DEFAULT_MAX_PAYLOAD`). */
  maxPayload?: number;
  /**
   * Where a frame's payload goes once its header is valid: exactly `header.length` bytes. Default: a fresh
   * Uint8Array (an ArrayBuffer of its own, so a receiver may transfer it to a worker).
   */
  allocate?: (header: Required<FrameHeader>) => Uint8Array;
  /**
   * Takes pings and pongs instead of `onFrame`: they are told apart from other frames by their constant
   * bytes, so that a flood of them costs the decoder a 20-byte comparison each and allocates nothing.
   */
  onControl?: (type: typeof FrameType.Ping | typeof FrameType.Pong) => void;
}

/** Below this, a payload's remaining bytes are read into the scratch buffer with what follows them. */
const IN_PLACE_MIN = 16 * 1024;
const SCRATCH_BYTES = 64 * 1024;

/**
 * Turns a byte stream cut at arbitrary points back into frames. It holds at most one frame: the header
 * being filled, or the payload being filled, into a buffer allocated once its header is valid. It is fed
 * in one of two ways:
 * - `push(chunk)` ('data' events): every payload byte is copied once, from the chunk into place;
 * - `readTarget()` / `received()` (net.Socket's `onread`, on sockets this process connects): while a
 *   payload is being filled the kernel reads straight into it, so a large payload is copied by nobody in
 *   user space; between frames reads land in a 64 KiB scratch buffer and go through `push`.
 */
export class FrameDecoder {
  readonly #onFrame: (frame: Frame) => void;
  readonly #maxPayload: number;
  readonly #allocate: (header: Required<FrameHeader>) => Uint8Array;
  readonly #onControl: DecoderOptions['onControl'];
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFilled = 0;
  #current: Required<FrameHeader> | undefined;
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  #copied = 0;
  #scratch: Uint8Array | undefined;
  /** What readTarget() handed out last: the buffer the next `received` refers to. */
  #target: Uint8Array | undefined;
  #failed: PlumeError | undefined;

  constructor(onFrame: (frame: Frame) => void, options: DecoderOptions = {}) {
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(maxPayload) || maxPayload < 0 || maxPayload > MAX_FRAME_PAYLOAD)
      throw new RangeError(`maxPayload must be an integer in [0, ${MAX_FRAME_PAYLOAD}], got ${maxPayload}`);
    this.#onFrame = onFrame;
    this.#maxPayload = maxPayload;
    this.#allocate = options.allocate ?? ((header) => new Uint8Array(header.length));
    this.#onControl = options.onControl;
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
        this.#copied += n;
        at += n;
        if (this.#payloadFilled === payload.length) this.#emit();
      }
    }
  }

  /** For `onread.buffer`: where the next read should land (the rest of a large payload, else scratch). */
  readTarget(): Uint8Array {
    const payload = this.#payload;
    if (payload && payload.length - this.#payloadFilled >= IN_PLACE_MIN) this.#target = payload.subarray(this.#payloadFilled);
    else this.#target = this.#scratch ??= new Uint8Array(SCRATCH_BYTES);
    return this.#target;
  }

  /** For `onread.callback`: `n` bytes arrived in `buffer`, which readTarget() handed out. */
  received(buffer: Uint8Array, n: number): void {
    if (this.#failed) throw this.#failed;
    if (buffer === this.#scratch) {
      this.push(buffer.subarray(0, n));
      return;
    }
    if (buffer !== this.#target) throw new Error('onread filled a buffer the decoder did not hand out');
    // In place: the kernel wrote the next n payload bytes where they belong.
    this.#payloadFilled += n;
    if (this.#payloadFilled === this.#payload!.length) this.#emit();
  }

  #startPayload(): void {
    const control = this.#onControl && controlType(this.#header);
    if (control !== undefined) {
      this.#headerFilled = 0;
      this.#onControl!(control);
      return;
    }
    try {
      this.#current = decodeHeader(this.#header, this.#maxPayload);
    } catch (e) {
      this.#failed = e as PlumeError;
      throw e;
    }
    this.#payload = this.#allocate(this.#current);
    if (this.#payload.length !== this.#current.length) throw new RangeError('allocate must return exactly the payload length');
    this.#payloadFilled = 0;
    this.#copied = 0;
    if (this.#current.length === 0) this.#emit();
  }

  #emit(): void {
    const frame: Frame = { ...this.#current!, payload: this.#payload!, copied: this.#copied };
    this.#current = undefined;
    this.#payload = undefined;
    this.#headerFilled = 0;
    this.#payloadFilled = 0;
    this.#onFrame(frame);
  }
}

/**
 * Where a pulled body waits (FrameFlag.Pull): u32 BE body length, a 16-byte token, then the UTF-8 address
 * of the client's pull server, in the same mode as the connection. A shared body (FrameFlag.Shared) uses
 * the same encoding: its address is the file's path.
 */
export interface PullRef {
  readonly length: number;
  readonly token: Uint8Array;
  readonly address: string;
}

export const PULL_TOKEN_BYTES = 16;

export function encodePullRef(ref: PullRef): Uint8Array {
  const address = Buffer.from(ref.address, 'utf8');
  const bytes = Buffer.allocUnsafe(4 + PULL_TOKEN_BYTES + address.length);
  bytes.writeUInt32BE(ref.length, 0);
  bytes.set(ref.token, 4);
  bytes.set(address, 4 + PULL_TOKEN_BYTES);
  return bytes;
}

export function decodePullRef(bytes: Uint8Array): PullRef {
  if (bytes.length <= 4 + PULL_TOKEN_BYTES) throw frameError(`a pull reference of ${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    length: view.getUint32(0),
    token: Uint8Array.from(bytes.subarray(4, 4 + PULL_TOKEN_BYTES)),
    address: Buffer.from(bytes.buffer, bytes.byteOffset + 4 + PULL_TOKEN_BYTES, bytes.length - 4 - PULL_TOKEN_BYTES).toString('utf8'),
  };
}

/** Ping or Pong when `header` is exactly one of their constant frames; undefined for anything else. */
function controlType(header: Uint8Array): typeof FrameType.Ping | typeof FrameType.Pong | undefined {
  if (header[3] === FrameType.Ping) return PING_FRAME.equals(header) ? FrameType.Ping : undefined;
  if (header[3] === FrameType.Pong) return PONG_FRAME.equals(header) ? FrameType.Pong : undefined;
  return undefined;
}

function frameError(reason: string): PlumeError {
  return new PlumeError('PLUME_EFRAME', `malformed frame: ${reason}`);
}

/** The frame codec: headers, a decoder fed at arbitrary boundaries, and refusal of malformed headers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { PlumeError } from '../../../src/errors.ts';
import {
  FrameDecoder,
  FrameFlag,
  FrameType,
  HEADER_BYTES,
  PING_FRAME,
  PONG_FRAME,
  decodeHeader,
  decodePullRef,
  encodeHeader,
  encodePullRef,
  type Frame,
} from '../../../src/data/transport/frame.ts';

const frameBytes = (type: FrameType, id: number, payload: Uint8Array, aux = 0): Buffer =>
  Buffer.concat([encodeHeader({ type, aux, id, length: payload.length }), payload]);

const decodeAll = (bytes: Uint8Array, cut: (at: number) => number, maxPayload?: number): Frame[] => {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f), maxPayload === undefined ? {} : { maxPayload });
  for (let at = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, at + cut(at));
    decoder.push(bytes.subarray(at, end));
    at = end;
  }
  assert.equal(decoder.partial, undefined, 'nothing left over');
  return frames;
};

const efram = (fn: () => unknown, reason: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof PlumeError && e.code === 'PLUME_EFRAME' && reason.test(e.message));

describe('frame codec', () => {
  const stream = Buffer.concat([
    frameBytes(FrameType.Request, 1, Buffer.from('echohello'), 4),
    frameBytes(FrameType.Response, 0xffff_ffff, new Uint8Array(0)),
    frameBytes(FrameType.Cancel, 7, new Uint8Array(0)),
    frameBytes(FrameType.Error, 2, Buffer.from('{"code":"PLUME_EFAILED","message":"x"}')),
    frameBytes(FrameType.Response, 3, Buffer.alloc(100_000, 0xab)),
  ]);
  const summary = (frames: Frame[]) => frames.map((f) => [f.type, f.id, f.aux, f.length, Buffer.from(f.payload).toString('hex')]);
  const whole = summary(decodeAll(stream, () => stream.length));

  it('should decode a stream of frames whole, byte by byte, and at random cuts alike', () => {
    assert.equal(whole.length, 5);
    assert.deepEqual(whole[0], [FrameType.Request, 1, 4, 9, Buffer.from('echohello').toString('hex')]);
    assert.deepEqual(summary(decodeAll(stream, () => 1)), whole);
    for (let seed = 1; seed <= 20; seed++) {
      let state = seed;
      const cut = () => 1 + ((state = (state * 48271) % 0x7fffffff) % 40_000);
      assert.deepEqual(summary(decodeAll(stream, cut)), whole, `seed ${seed}`);
    }
  });

  it('should hand out each payload in an ArrayBuffer of exactly its size', () => {
    const payload = Buffer.alloc(70_000, 1);
    const [frame] = decodeAll(frameBytes(FrameType.Response, 9, payload), () => 65_536);
    assert.equal(frame!.payload.byteOffset, 0);
    assert.equal(frame!.payload.buffer.byteLength, payload.length);
  });

  it('should report the bytes of a frame in progress', () => {
    const decoder = new FrameDecoder(() => {});
    const bytes = frameBytes(FrameType.Response, 1, Buffer.alloc(100));
    decoder.push(bytes.subarray(0, 10));
    assert.deepEqual(decoder.partial, { received: 10, length: HEADER_BYTES });
    decoder.push(bytes.subarray(10, 50));
    assert.deepEqual(decoder.partial, { received: 50, length: HEADER_BYTES + 100 });
  });

  it('should refuse malformed headers with PLUME_EFRAME', () => {
    const good = encodeHeader({ type: FrameType.Request, aux: 0, id: 5, length: 10 });
    const corrupt = (at: number, value: number, fixCrc = true) => {
      const bytes = Buffer.from(good);
      bytes[at] = value;
      // re-sign the header so the fault checked is the field itself, not the checksum
      if (fixCrc) bytes.writeUInt32BE(crc32(bytes.subarray(0, 16)), 16);
      return bytes;
    };
    efram(() => decodeHeader(Buffer.from('GET / HTTP/1.1\r\nHost:')), /bad magic 0x4745/);
    efram(() => decodeHeader(corrupt(9, 6, false)), /checksum mismatch/);
    efram(() => decodeHeader(corrupt(2, 2)), /unsupported version 2/);
    efram(() => decodeHeader(corrupt(3, 9)), /unknown frame type 9/);
    efram(() => decodeHeader(corrupt(4, 4)), /reserved header bits/);
    efram(() => decodeHeader(corrupt(5, 1)), /reserved header bits/);
    efram(
      () => decodeHeader(encodeHeader({ type: FrameType.Response, flags: FrameFlag.Pull, aux: 0, id: 1, length: 4 })),
      /flags 1 are invalid for type 2/,
    );
    efram(() => decodeHeader(corrupt(7, 11)), /aux 11 is invalid/);
    efram(() => decodeHeader(encodeHeader({ type: FrameType.Response, aux: 1, id: 1, length: 4 })), /aux 1 is invalid/);
    efram(() => decodeHeader(encodeHeader({ type: FrameType.Cancel, aux: 0, id: 1, length: 4 })), /cancel frame carries no payload/);
    efram(
      () => decodeHeader(encodeHeader({ type: FrameType.Progress, aux: 0, id: 1, length: 3 })),
      /progress frame carries 4 bytes, not 3/,
    );
    efram(() => decodeHeader(encodeHeader({ type: FrameType.Ping, aux: 0, id: 1, length: 0 })), /a ping or pong frame is its header alone/);
    efram(() => decodeHeader(encodeHeader({ type: FrameType.Pong, aux: 0, id: 0, length: 2 })), /a ping or pong frame is its header alone/);
  });

  it('should hand pings and pongs to onControl, never to onFrame, and allocate nothing for them', () => {
    const frames: number[] = [];
    const control: number[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f.type), {
      onControl: (type) => control.push(type),
      allocate: () => assert.fail('nothing is allocated for a ping or a pong'),
    });
    const bytes = Buffer.concat([PING_FRAME, PONG_FRAME, PING_FRAME]);
    for (let i = 0; i < bytes.length; i += 7) decoder.push(bytes.subarray(i, i + 7)); // cut mid-header
    assert.deepEqual(control, [FrameType.Ping, FrameType.Pong, FrameType.Ping]);
    assert.deepEqual(frames, []);
  });

  it('should accept the pull and shared flags on a request', () => {
    for (const flags of [FrameFlag.Pull, FrameFlag.Shared]) {
      const header = decodeHeader(encodeHeader({ type: FrameType.Request, flags, aux: 4, id: 1, length: 40 }));
      assert.equal(header.flags, flags);
    }
  });

  it('should let the kernel fill large payloads in place when fed through readTarget/received', () => {
    // What net.Socket's onread does: read into readTarget(), then report how many bytes landed.
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const bytes = Buffer.concat([frameBytes(FrameType.Response, 1, Buffer.from('small')), frameBytes(FrameType.Response, 2, big)]);
    const frames: Frame[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f));
    let inPlace = 0;
    for (let at = 0; at < bytes.length;) {
      const target = decoder.readTarget();
      const n = Math.min(target.length, bytes.length - at, 50_000);
      target.set(bytes.subarray(at, at + n));
      if (target.length !== 64 * 1024) inPlace += n;
      decoder.received(target, n);
      at += n;
    }
    assert.equal(decoder.partial, undefined);
    assert.deepEqual(
      frames.map((f) => [f.id, f.length]),
      [
        [1, 5],
        [2, big.length],
      ],
    );
    assert.ok(Buffer.from(frames[1]!.payload).equals(big));
    assert.equal(frames[0]!.copied, 5, 'a small payload is copied out of the scratch buffer');
    assert.equal(frames[1]!.copied + inPlace, big.length, 'every other byte was read in place');
    assert.ok(inPlace > 200_000, `most of the large payload was read in place (${inPlace})`);
  });

  it('should put payloads where allocate says', () => {
    const into = new Uint8Array(new SharedArrayBuffer(1024));
    const frames: Frame[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f), { allocate: (h) => into.subarray(0, h.length) });
    decoder.push(frameBytes(FrameType.Response, 1, Buffer.from('pooled')));
    assert.equal(frames[0]!.payload.buffer, into.buffer);
    assert.equal(Buffer.from(into.subarray(0, 6)).toString(), 'pooled');
  });

  it('should round-trip a pull reference and refuse a short one', () => {
    const token = new Uint8Array(16).fill(9);
    const ref = decodePullRef(encodePullRef({ length: 100 * 1024 * 1024, token, address: '127.0.0.1:4711' }));
    assert.deepEqual(ref, { length: 100 * 1024 * 1024, token, address: '127.0.0.1:4711' });
    efram(() => decodePullRef(new Uint8Array(20)), /pull reference of 20 bytes is too short/);
  });

  it('should refuse a declared length over the limit before any payload arrives, and stay failed', () => {
    let delivered = 0;
    const decoder = new FrameDecoder(() => delivered++, { maxPayload: 1024 });
    const header = encodeHeader({ type: FrameType.Response, aux: 0, id: 1, length: 0xffff_ffff });
    efram(() => decoder.push(header), /payload of 4294967295 bytes exceeds the limit of 1024/);
    efram(() => decoder.push(frameBytes(FrameType.Response, 2, Buffer.from('ok'))), /exceeds the limit/);
    assert.equal(delivered, 0);
  });

  it('should refuse out-of-range header fields and limits with RangeError', () => {
    assert.throws(() => encodeHeader({ type: FrameType.Request, aux: 0x10000, id: 0, length: 0x10000 }), RangeError);
    assert.throws(() => encodeHeader({ type: FrameType.Response, aux: 0, id: -1, length: 0 }), RangeError);
    assert.throws(() => encodeHeader({ type: FrameType.Response, aux: 0, id: 0, length: 2 ** 32 }), RangeError);
    assert.throws(() => new FrameDecoder(() => {}, { maxPayload: 2 ** 32 }), RangeError);
    assert.throws(() => encodeHeader({ type: FrameType.Request, flags: 256, aux: 0, id: 0, length: 0 }), RangeError);
  });
});

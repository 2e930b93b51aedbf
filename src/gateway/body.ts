/**
 * Request bodies as payload bytes. The gateway has one body parser, for every content type: the body lands
 * in one buffer, sized from Content-Length before the first byte arrives, with one copy out of the socket's
 * chunks. A body that would pass its limit is refused (413) as soon as that is known: at once from
 * Content-Length, or mid-stream for a chunked body, never after buffering it all.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { PlumeError } from '../errors.ts';

export interface BodyLimit {
  readonly bytes: number;
  /** What the limit belongs to, for the message ("function 'resize'", "the gateway"). */
  readonly owner: string;
}

/** The declared length, or undefined for a chunked body. Node's parser already refuses most bad values. */
export function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const header = headers['content-length'];
  if (header === undefined) return undefined;
  if (!/^\d{1,15}$/.test(header)) throw new PlumeError('PLUME_EHEADER', `Content-Length must be a byte count, got '${header}'`);
  return Number(header);
}

/** A limit of its own (`bytes`, named by `owner`), capped by the gateway's `maxBodyBytes`. */
export function cappedLimit(maxBodyBytes: number, bytes: number, owner: string): BodyLimit {
  return bytes < maxBodyBytes ? { bytes, owner } : { bytes: maxBodyBytes, owner: 'the gateway' };
}

export function tooBig(bytes: number | string, limit: BodyLimit): PlumeError {
  return new PlumeError('PLUME_ETOOBIG', `request body of ${bytes} bytes is over the limit of ${limit.owner}: ${limit.bytes} bytes`);
}

export function readBody(stream: Readable, headers: IncomingHttpHeaders, limit: BodyLimit): Promise<Uint8Array> {
  const length = declaredLength(headers);
  if (length !== undefined && length > limit.bytes) return Promise.reject(tooBig(length, limit));
  return new Promise<Uint8Array>((resolve, reject) => {
    // Known length: one buffer up front, each chunk copied into place. Chunked: keep the chunks (no copy)
    // and join them once at the end, which is again one copy per byte.
    const whole = length === undefined ? undefined : Buffer.allocUnsafe(length);
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (err: Error): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > (length ?? limit.bytes)) {
        // Node's parser stops at Content-Length, so only a chunked body gets here.
        fail(tooBig(`more than ${limit.bytes}`, limit));
        return;
      }
      if (whole) chunk.copy(whole, received);
      else chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = (): void => {
      stream.off('data', onData);
      if (whole) resolve(received === whole.length ? whole : whole.subarray(0, received));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', (err) => fail(new PlumeError('PLUME_EINPUT', `request body could not be read: ${err.message}`)));
  });
}

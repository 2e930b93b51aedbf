/**
 * A body over its limit is refused (413) before any of it is copied: from a declared Content-Length with
 * no body byte sent at all, and for a chunked body as soon as it passes the limit, while the client still
 * holds the rest. The function never runs, and the connection is closed rather than read to the end.
 * Bodies within the limit, chunked or not, up to exactly the limit, arrive intact.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { guest } from '../helpers.ts';
import { startNode, type TestNode } from './support.ts';

const LIMIT = 64 * 1024;
/** Answers its input as it is. */
const ECHO = fileURLToPath(new URL('../../bench/guests/echo.wasm', import.meta.url));

/** A raw connection: what it has been sent so far, whether the server closed it, and a way to await text. */
interface Raw {
  readonly socket: Socket;
  text(): string;
  closed(): boolean;
  /** Resolves with everything received once it matches `re` (or rejects after `ms`). */
  until(re: RegExp, ms?: number): Promise<string>;
}

async function open(url: string): Promise<Raw> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let closed = false;
  const waiters: (() => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  return {
    socket,
    text: () => text,
    closed: () => closed,
    until: (re, ms = 5000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; got ${JSON.stringify(text.slice(0, 300))}`)), ms);
        const check = (): void => {
          if (re.test(text)) {
            clearTimeout(timer);
            resolve(text);
          } else if (closed) {
            clearTimeout(timer);
            reject(new Error(`closed without ${re}; got ${JSON.stringify(text.slice(0, 300))}`));
          } else waiters.push(check);
        };
        check();
      }),
  };
}

/** Wait until the server has closed the connection (bounded). */
async function closedSoon(raw: Raw, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!raw.closed() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return raw.closed();
}

describe('gateway body limits: 413 before any copy', () => {
  let node: TestNode;
  const invocations = async (name: string): Promise<number> => (await node.plume.stats())[name]?.invocations ?? 0;

  before(async () => {
    node = await startNode({ maxBodyBytes: LIMIT });
    await node.plume.deploy('echo', readFileSync(ECHO));
    await node.plume.deploy('tiny', guest('conformance-c.wasm'), { limits: { maxInputBytes: 16 } });
  });
  after(() => node.close());

  it('should answer 413 to a declared Content-Length over the limit before one body byte is sent', async () => {
    const before = await invocations('echo');
    const raw = await open(node.url);
    try {
      // Headers only: the server cannot have read (or copied) any body, and must not wait for one.
      raw.socket.write(`POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`);
      const answer = await raw.until(/"code":"PLUME_ETOOBIG".*\}\}/s);
      assert.match(answer, /^HTTP\/1\.1 413 /);
      assert.match(answer, new RegExp(`request body of ${LIMIT + 1} bytes is over the limit of the gateway: ${LIMIT} bytes`));
      assert.ok(await closedSoon(raw), 'the connection is closed, not left to read the body');
    } finally {
      raw.socket.destroy();
    }
    assert.equal(await invocations('echo'), before, 'the function never ran');
  });

  it("should answer 413 for a function's own lower limit from Content-Length alone", async () => {
    const raw = await open(node.url);
    try {
      raw.socket.write('POST /function/tiny HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n');
      const answer = await raw.until(/\}\}/);
      assert.match(answer, /^HTTP\/1\.1 413 /);
      assert.match(answer, /request body of 17 bytes is over the limit of function 'tiny': 16 bytes/);
    } finally {
      raw.socket.destroy();
    }
  });

  it('should cut a chunked body off as it passes the limit, while the client still holds the rest', async () => {
    const before = await invocations('echo');
    const raw = await open(node.url);
    try {
      raw.socket.write('POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      // One byte past the limit, in chunks, and no terminating chunk: the body is unfinished.
      const chunk = 'a'.repeat(16 * 1024);
      for (let sent = 0; sent < LIMIT; sent += chunk.length) raw.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      raw.socket.write('1\r\nb\r\n');
      const answer = await raw.until(/"code":"PLUME_ETOOBIG".*\}\}/s);
      assert.match(answer, /^HTTP\/1\.1 413 /);
      assert.match(answer, new RegExp(`over the limit of the gateway: ${LIMIT} bytes`));
      assert.ok(await closedSoon(raw), 'the rest of the body is not read: the connection is closed');
    } finally {
      raw.socket.destroy();
    }
    assert.equal(await invocations('echo'), before, 'the function never ran');
  });

  it('should still take a chunked body of exactly the limit, and bodies small and large intact', async () => {
    for (const size of [0, 10, 4096, LIMIT]) {
      const body = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
      // A ReadableStream body goes chunked (no Content-Length); a Uint8Array gets a Content-Length.
      for (const chunked of [false, true]) {
        const res = await fetch(`${node.url}/function/echo`, {
          method: 'POST',
          body: chunked ? new Blob([body]).stream() : body,
          ...(chunked ? { duplex: 'half' } : {}),
        } as RequestInit);
        assert.equal(res.status, 200, `${size} bytes${chunked ? ', chunked' : ''}`);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), body, `${size} bytes${chunked ? ', chunked' : ''}`);
      }
    }
  });
});

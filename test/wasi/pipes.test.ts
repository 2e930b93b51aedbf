/**
 * Guests reading host pipes (bench/guests/wasi-pipe.c: reads the FIFO its input names until the end) on
 * real workers: a read with nothing in the pipe yet suspends the guest instead of answering EAGAIN or
 * holding the thread, and resumes with the bytes once they come.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/runtime.ts';
import { benchGuest, example, text } from '../helpers.ts';

describe('WASI guests reading pipes', () => {
  let plume: Plume;
  let where: string;

  /** `n` FIFOs, each held open by a writer here (so a reader sees no end of file before the writer closes). */
  const fifos = (prefix: string, n: number): { paths: string[]; writers: number[] } => {
    const paths = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    execFileSync(
      'mkfifo',
      paths.map((p) => join(where, p)),
    );
    // O_RDWR on a FIFO never waits for the other end (Linux), and keeps a writer open on it.
    const writers = paths.map((p) => openSync(join(where, p), constants.O_RDWR | constants.O_NONBLOCK));
    return { paths, writers };
  };

  before(async () => {
    where = mkdtempSync(join(tmpdir(), 'plume-wasi-pipes-'));
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('pipe', benchGuest('wasi-pipe.wasm'), { dirs: { '/p': where } });
    await plume.deploy('noop', example('noop/noop.wasm'));
  });

  after(async () => {
    await plume.close();
  });

  it('should suspend a guest whose pipe is empty and give it the bytes once they are written', async () => {
    const { paths, writers } = fifos('one', 1);
    const reading = plume.invoke('pipe', `/p/${paths[0]} 12\n`);
    // The worker is free while the guest waits: a call made after it finishes first.
    await plume.invoke('noop');
    await plume.invoke('noop');
    writeSync(writers[0]!, 'first ');
    writeSync(writers[0]!, 'second');
    assert.equal(text(await reading), 'first second');
    closeSync(writers[0]!);
  });

  it('should hold 1,000 guests waiting on pipes on 2 workers, none of them holding a thread', async () => {
    const { paths, writers } = fifos('many', 1000);
    const done: string[] = [];
    const readers = paths.map((p, i) => plume.invoke('pipe', `/p/${p} ${`pipe ${i}`.length}\n`).then((out) => done.push(text(out))));
    // Queued behind all 1,000 on the same two workers, quick calls still finish while every reader waits.
    for (let i = 0; i < 20; i++) await plume.invoke('noop');
    assert.equal(done.length, 0);
    // The writers stay open until their readers are done: a FIFO's bytes go when its last end closes.
    writers.forEach((fd, i) => writeSync(fd, `pipe ${i}`));
    await Promise.all(readers);
    for (const fd of writers) closeSync(fd);
    assert.deepEqual(done.sort(), paths.map((_, i) => `pipe ${i}`).sort());
  });

  it('should answer end of file at once for a pipe whose writer is gone', async () => {
    const { paths, writers } = fifos('closed', 1);
    writeSync(writers[0]!, 'left behind');
    closeSync(writers[0]!);
    // No end of the FIFO was open, so the kernel dropped its bytes: a reader sees the end at once.
    assert.equal(text(await plume.invoke('pipe', `/p/${paths[0]} 100\n`)), '');
  });
});

/**
 * Plume's WASI layer seen from a real guest (test/guests/wasi-probe.c: one host call per input line, its
 * errno per output line) on real worker threads: escape attempts, virtual stdio, per-call descriptor
 * tables, and poll_oneoff sleeping without holding the worker.
 */
import assert from 'node:assert/strict';
import { fstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/runtime.ts';
import { guest, text } from '../helpers.ts';

const E = {
  OK: 0,
  BADF: 8,
  EXIST: 20,
  INVAL: 28,
  ISDIR: 31,
  LOOP: 32,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTCAPABLE: 76,
};

describe('WASI through Plume: confinement, descriptors, suspension', () => {
  let plume: Plume;
  let top: string;
  let box: string;
  const log = new PassThrough();
  let logged = '';
  log.on('data', (b: Buffer) => (logged += b.toString()));

  /** Runs the probe's `lines` in one call of `name`; the errno of each, in order. */
  const probe = async (lines: string[], name = 'probe'): Promise<number[]> => {
    const out = text(await plume.invoke(name, `${lines.join('\n')}\n`));
    return out.trim() === '' ? [] : out.trim().split('\n').map(Number);
  };

  before(async () => {
    top = mkdtempSync(join(tmpdir(), 'plume-wasi-'));
    box = join(top, 'box');
    mkdirSync(join(box, 'sub'), { recursive: true });
    writeFileSync(join(top, 'outside.txt'), 'secret');
    writeFileSync(join(box, 'sub', 'inner.txt'), 'inner');
    // Links a hostile host user (or an earlier guest) could have left in the box.
    symlinkSync('/', join(box, 'rootlink'));
    symlinkSync('../..', join(box, 'uplink'));
    symlinkSync(join(top, 'outside.txt'), join(box, 'abslink'));
    plume = await Plume.start({ workers: 1, logTo: log });
    await plume.deploy('probe', guest('wasi-probe.wasm'), { dirs: { '/': box } });
    await plume.deploy('actor', guest('wasi-probe.wasm'), { dirs: { '/': box }, stateful: true });
  });

  after(async () => {
    await plume.close();
  });

  it('should refuse every escape from the preopen with the spec errno and touch nothing outside', async () => {
    const outsideBefore = readdirSync(top).sort();
    const cases: [string, number][] = [
      ['open ../outside.txt', E.NOTCAPABLE],
      ['open sub/../../outside.txt', E.NOTCAPABLE],
      ['open ./sub/./../.././box/sub/inner.txt', E.NOTCAPABLE],
      ['open /etc/passwd', E.NOTCAPABLE],
      ['openf rootlink/etc/passwd', E.NOTCAPABLE],
      ['stat rootlink', E.NOTCAPABLE],
      ['lstat rootlink', E.OK],
      // A trailing slash would make the kernel follow the last symlink: Plume never hands it one.
      ['lstat rootlink/', E.NOTDIR],
      ['stat rootlink/', E.NOTCAPABLE],
      ['open abslink/', E.NOTDIR],
      ['create newfile/', E.ISDIR],
      ['openf uplink/outside.txt', E.NOTCAPABLE],
      ['openf abslink', E.NOTCAPABLE],
      ['open abslink', E.LOOP],
      ['symlink / mine', E.NOTCAPABLE],
      ['symlink ../../.. escape', E.OK],
      ['openf escape/outside.txt', E.NOTCAPABLE],
      ['symlink loop loop', E.OK],
      ['openf loop', E.LOOP],
      ['openf loop/x', E.LOOP],
      ['symlink ping pong', E.OK],
      ['symlink pong ping', E.OK],
      ['stat ping', E.LOOP],
      ['link ../outside.txt hard', E.NOTCAPABLE],
      ['link uplink/outside.txt hard', E.NOTCAPABLE],
      ['rename sub ../moved', E.NOTCAPABLE],
      ['mkdir ../evil', E.NOTCAPABLE],
      ['create ../evil.txt', E.NOTCAPABLE],
      ['unlink ../outside.txt', E.NOTCAPABLE],
      ['rmdir ..', E.NOTCAPABLE],
      [`open ${'a/'.repeat(2100)}x`, E.NAMETOOLONG],
      [`open ${'n'.repeat(256)}`, E.NAMETOOLONG],
      ['open sub/inner.txt\\0.png', E.INVAL],
      ['mkdir a\\0b', E.INVAL],
      ['open sub/inner.txt', E.OK],
    ];
    assert.deepEqual(
      await probe(cases.map(([line]) => line)),
      cases.map(([, errno]) => errno),
    );
    assert.equal(readFileSync(join(top, 'outside.txt'), 'utf8'), 'secret');
    assert.deepEqual(readdirSync(top).sort(), outsideBefore);
    assert.ok(!readdirSync(box).includes('hard') && !readdirSync(box).includes('mine'));
  });

  it('should refuse a deploy whose granted directory is missing or not a directory', async () => {
    await assert.rejects(
      plume.deploy('nodir', guest('wasi-probe.wasm'), { dirs: { '/': join(top, 'missing') } }),
      /cannot open host directory .*ENOENT/,
    );
    await assert.rejects(
      plume.deploy('filedir', guest('wasi-probe.wasm'), { dirs: { '/': join(top, 'outside.txt') } }),
      /cannot open host directory .*ENOTDIR/,
    );
  });

  it('should keep a directory descriptor confined after the host renames it out of the preopen', async () => {
    mkdirSync(join(box, 'moving'));
    writeFileSync(join(box, 'moving', 'in.txt'), 'in');
    assert.deepEqual(await probe(['opendir moving'], 'actor'), [E.OK]);
    mkdirSync(join(top, 'elsewhere'));
    renameSync(join(box, 'moving'), join(top, 'elsewhere', 'moving'));
    // The stateful actor still holds descriptor 4 on the moved directory: `..` from it is no way out.
    assert.deepEqual(await probe(['openat 4 ../../outside.txt', 'openat 4 ../moving/in.txt', 'openat 4 in.txt'], 'actor'), [
      E.NOTCAPABLE,
      E.NOTCAPABLE,
      E.OK,
    ]);
  });

  it('should serve each path import, and its error path', async () => {
    const cases: [string, number][] = [
      ['mkdir d', E.OK],
      ['mkdir d', E.EXIST],
      ['create d/f', E.OK],
      ['rmdir d', E.NOTEMPTY],
      ['unlink d', E.ISDIR],
      ['rmdir d/f', E.NOTDIR],
      ['open d/f/x', E.NOTDIR],
      ['symlink f d/s', E.OK],
      ['readlink d/s', E.OK],
      ['readlink d/f', E.INVAL],
      ['readlink d/none', E.NOENT],
      ['stat d/s', E.OK],
      ['lstat d/s', E.OK],
      ['rename d/s d/s2', E.OK],
      ['lstat d/s', E.NOENT],
      ['link d/f d/h', E.OK],
      ['link d/f d/h', E.EXIST],
      ['unlink d/h', E.OK],
      ['unlink d/s2', E.OK],
      ['unlink d/f', E.OK],
      ['unlink d/f', E.NOENT],
      ['rmdir d', E.OK],
      ['open nowhere', E.NOENT],
      ['close 99', E.BADF],
      ['renumber 99 0', E.BADF],
      ['openat 0 x', E.NOTDIR],
    ];
    assert.deepEqual(
      await probe(cases.map(([line]) => line)),
      cases.map(([, errno]) => errno),
    );
  });

  it("should let a guest close and reuse fd 1 and 2 without touching the node's own stdout", async () => {
    const stdoutBefore = fstatSync(1);
    logged = '';
    // fd 1 closed: results go to fd 2 (the log); `write 1` fails, `create` gets number 1 for its file. Then
    // fd 2 becomes stdin, which cannot be written: the last two results are lost, and nothing else moves.
    assert.deepEqual(await probe(['close 1', 'write 1', 'create reused.txt', 'renumber 0 2', 'write 2']), []);
    assert.deepEqual(logged.trim().split('\n'), ['[probe] warn: 0', '[probe] warn: 8', '[probe] warn: 0']);
    assert.equal(readFileSync(join(box, 'reused.txt'), 'utf8'), 'x');
    const stdoutAfter = fstatSync(1);
    assert.deepEqual([stdoutAfter.dev, stdoutAfter.ino], [stdoutBefore.dev, stdoutBefore.ino]);
    assert.equal(writeSync(1, ''), 0);
    // The next call starts from a fresh table: its fd 1 is the call's output again.
    assert.equal(text(await plume.invoke('probe', 'write 1\n')), 'w\n0\n');
  });

  it('should give each call of a non-stateful function a fresh descriptor table', async () => {
    assert.deepEqual(await probe(['opendir sub']), [E.OK]);
    assert.deepEqual(await probe(['close 4', 'close 3', 'open sub/inner.txt']), [E.BADF, E.OK, E.BADF]);
    assert.deepEqual(await probe(['open sub/inner.txt']), [E.OK]);
  });

  it('should keep the descriptor table of a stateful function between calls', async () => {
    assert.deepEqual(await probe(['opendir sub'], 'actor'), [E.OK]);
    assert.deepEqual(await probe(['openat 5 inner.txt', 'close 5', 'close 5'], 'actor'), [E.OK, E.OK, E.BADF]);
  });

  it('should let other calls run on the worker while a guest sleeps in poll_oneoff', async () => {
    const order: string[] = [];
    const sleeper = probe(['sleep 400']).then((r) => order.push(`sleeper:${r.join()}`));
    const quick = probe(['open sub/inner.txt']).then((r) => order.push(`quick:${r.join()}`));
    await Promise.all([sleeper, quick]);
    assert.deepEqual(order, ['quick:0', 'sleeper:0']);
  });

  it('should hold 500 guests asleep in poll_oneoff on one worker, none of them holding the thread', async () => {
    const done: string[] = [];
    const sleepers = Array.from({ length: 500 }, () => probe(['sleep 300']).then((r) => done.push(r.join())));
    // Queued behind all 500 on the same single worker, a quick call still finishes before any sleeper.
    const quick = await probe(['open sub/inner.txt']);
    assert.deepEqual([quick, done.length], [[E.OK], 0]);
    await Promise.all(sleepers);
    assert.equal(done.length, 500);
    assert.ok(done.every((r) => r === '0'));
  });
});

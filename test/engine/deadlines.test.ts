import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Deadlines, type Deadline } from '../../src/engine/deadlines.ts';

const deadline = (ms: number, fired: string[], name: string): Deadline => ({
  at: performance.now() + ms,
  running: true,
  expire: () => fired.push(name),
});

describe('Deadlines (one timer for a pool’s running calls)', () => {
  it('should expire calls past their deadline in order and skip those that finished', async () => {
    const fired: string[] = [];
    const q = new Deadlines();
    const [a, b, c] = [deadline(20, fired, 'a'), deadline(25, fired, 'b'), deadline(30, fired, 'c')];
    q.add(a);
    q.add(b);
    q.add(c);
    q.done(b);
    await delay(80);
    assert.deepEqual(fired, ['a', 'c']);
    assert.equal(a.running, false);
    assert.equal(q.size, 0);
  });

  it('should expire nothing when every call finishes first, and then hold no entry', async () => {
    const fired: string[] = [];
    const q = new Deadlines();
    const all = Array.from({ length: 2000 }, (_, i) => deadline(20, fired, String(i)));
    for (const d of all) q.add(d);
    for (const d of all) q.done(d);
    assert.equal(q.size, 0);
    await delay(50);
    assert.deepEqual(fired, []);
  });

  it('should re-arm for a later call when the head finished before its deadline', async () => {
    const fired: string[] = [];
    const q = new Deadlines();
    const first = deadline(10, fired, 'first');
    q.add(first);
    q.add(deadline(40, fired, 'second'));
    q.done(first);
    await delay(25);
    assert.deepEqual(fired, []);
    await delay(60);
    assert.deepEqual(fired, ['second']);
  });

  it('should hold calls that finished behind a long one until it finishes, then none', () => {
    const fired: string[] = [];
    const q = new Deadlines();
    const long = deadline(60_000, fired, 'long');
    q.add(long);
    for (let i = 0; i < 5000; i++) {
      const d = deadline(60_000, fired, String(i));
      q.add(d);
      q.done(d);
    }
    assert.equal(q.size, 5001); // finished ones behind the head wait until the head goes
    q.done(long);
    assert.equal(q.size, 0);
    assert.deepEqual(fired, []);
  });
});

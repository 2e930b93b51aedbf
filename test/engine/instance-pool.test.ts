/**
 * The pool's idle instances: compacted (replaced by lean ones whose memory holds only the snapshot's pages)
 * so that an idle instance stops holding its whole memory resident, and an instance whose memory grew is
 * replaced off the call path instead of leaving the next call to create one. Real guest: the trace
 * benchmark's (bench/guests/trace-fn.c: 16 MiB of its initial memory is an arena it touches per call).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as delay, setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { Payload } from '../../src/data/payload.ts';
import { compileUncached, defineFunction, takeSnapshot } from '../../src/engine/compile.ts';
import { InstancePool } from '../../src/engine/instance-pool.ts';
import { MemoryPool } from '../../src/engine/memory-pool.ts';
import { hostInterfaces } from '../../src/host/index.ts';
import { benchGuest, text } from '../helpers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function tracePool(): InstancePool {
  const compiled = compileUncached(new Uint8Array(readFileSync(benchGuest('trace-fn.wasm'))));
  const bare = defineFunction(compiled, { id: 1, name: 'trace-fn', version: 1 }, {}, hostInterfaces);
  const def = { ...bare, snapshot: takeSnapshot(bare, hostInterfaces, () => {}) };
  return new InstancePool(def, hostInterfaces, new MemoryPool(0), () => {});
}

/** A call of trace-fn that touches `kb` KiB of its memory (past its 16 MiB arena it grows the memory). */
const touching = (kb: number): Payload => Payload.of(new TextEncoder().encode(`0 0 ${kb} 0\n`));

const residentMb = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

describe('InstancePool idle instances', () => {
  it('should release the memory of idle instances on compaction and serve the next calls warm', async () => {
    const pool = tracePool();
    const n = 12;
    // Concurrent calls (the guest suspends: each holds an instance), each touching 12 MiB.
    const first = await Promise.all(Array.from({ length: n }, () => pool.invoke(touching(12 * 1024))));
    await tick(); // the resets run on an idle tick
    assert.equal(pool.coldStarts, n);
    assert.equal(pool.idle, n);
    gc();
    const before = residentMb();
    pool.compact();
    // The collector frees the old memories' backing stores (their pages) after it marks them: poll for it.
    let released = 0;
    for (const deadline = performance.now() + 5000; released <= n * 12 && performance.now() < deadline; await delay(50)) {
      gc();
      released = before - residentMb();
    }
    // Each reset instance held its whole 16 MiB arena resident (reset zeroes it in place).
    assert.ok(released > n * 12, `released ${released.toFixed(0)} MB of ${n} × 16 MiB`);
    assert.equal(pool.replaced, n);

    const again = await Promise.all(Array.from({ length: n }, () => pool.invoke(touching(12 * 1024))));
    assert.equal(pool.coldStarts, n, 'the lean instances served the calls: none was created for them');
    assert.deepEqual(
      again.map((r) => text(r.output.flatten())),
      first.map((r) => text(r.output.flatten())),
    );
    pool.close();
  });

  it('should leave instances of a function with a small memory as they are', async () => {
    const compiled = compileUncached(new Uint8Array(readFileSync(benchGuest('echo.wasm'))));
    const bare = defineFunction(compiled, { id: 2, name: 'echo', version: 1 }, {}, hostInterfaces);
    const pool = new InstancePool(
      { ...bare, snapshot: takeSnapshot(bare, hostInterfaces, () => {}) },
      hostInterfaces,
      new MemoryPool(0),
      () => {},
    );
    await pool.invoke(Payload.of(new TextEncoder().encode('x')));
    await tick();
    pool.compact();
    assert.equal(pool.replaced, 0);
    pool.close();
  });

  it('should replace an instance whose memory grew off the call path, so the next call is warm', async () => {
    const pool = tracePool();
    await pool.invoke(touching(20 * 1024)); // past the arena: memory.grow, the instance cannot be reset
    assert.equal(pool.coldStarts, 1);
    await tick();
    assert.equal(pool.idle, 1, 'a lean replacement waits in the pool');
    const next = await pool.invoke(touching(1024));
    assert.match(text(next.output.flatten()), /^ok \d+$/);
    assert.equal(pool.coldStarts, 1, 'the call after it found an instance');
    pool.close();
  });
});

/** Guests reach the two-tier state through plume_v1, on the memory backend and on a real Redis. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../src/index.ts';
import { guest, text } from './helpers.ts';
import { startRedis, type RedisServer } from './support/redis.ts';

for (const [language, wasm] of [
  ['C', 'state.wasm'],
  ['AssemblyScript', 'state-as.wasm'],
] as const) {
  for (const backend of ['memory', 'redis'] as const) {
    describe(`state from the ${language} guest (${backend} global tier)`, () => {
      let plume: Plume;
      let redis: RedisServer | undefined;
      const run = async (input: string): Promise<string> => text(await plume.invoke('state', input));

      before(async () => {
        if (backend === 'redis') redis = await startRedis();
        plume = await Plume.start({ workers: 2, ...(redis ? { redisUrl: redis.url } : {}) });
        await plume.deploy('state', guest(wasm));
      });
      after(async () => {
        await plume.close();
        await redis?.stop();
      });

      it('should set, get, read ranges and delete', async () => {
        assert.match(await run('set:k1:hello world'), /^v=\d+$/);
        assert.equal(await run('get:k1'), 'hello world');
        assert.equal(await run('range:k1:6'), 'worl');
        assert.equal(await run('setrange:k1:0:HELLO'), 'ok');
        assert.equal(await run('get:k1'), 'HELLO world');
        assert.equal(await run('delete:k1'), '0');
        assert.equal(await run('get:k1'), 'noent');
        assert.equal(await run('delete:k1'), '3');
      });

      it('should compare-and-set by version', async () => {
        const v = Number((await run('set:k2:a')).slice(2));
        assert.match(await run(`cas:k2:${v}:b`), /^ok:\d+$/);
        assert.equal(await run(`cas:k2:${v}:c`), `conflict:${Number((await run(`cas:k2:${v}:c`)).split(':')[1])}`);
        assert.equal(await run('get:k2'), 'b');
      });

      it('should append and read the appended entries', async () => {
        assert.equal(await run('append:log:one'), '1');
        assert.equal(await run('append:log:two'), '2');
        assert.equal(await run('appended:log'), 'one,two');
      });

      it('should serialize read-modify-write under a lock across workers', async () => {
        await Promise.all(Array.from({ length: 40 }, () => run('incr:counter')));
        assert.equal(await run('get:counter'), '40');
      });

      it('should report a lease that expired while held', async () => {
        assert.equal(await run('holdlock:short:100'), '7');
      });

      it('should push local writes to the global tier and pull them back', async () => {
        assert.equal(await run('lwrite:shared:local bytes'), 'ok');
        const value = await plume.state.backend.get('shared');
        assert.equal(text(value!.value), 'local bytes');
        await plume.state.backend.set('shared', new TextEncoder().encode('from the host'));
        assert.equal(await run('lread:shared'), 'from the host');
      });
    });
  }
}

describe('state from a guest when Redis is down', () => {
  it('should answer unavailable to the guest, keep serving, and recover', async () => {
    const redis = await startRedis();
    const plume = await Plume.start({ workers: 1, redisUrl: redis.url });
    try {
      await plume.deploy('state', guest('state.wasm'));
      assert.equal(text(await plume.invoke('state', 'set:x:1')).slice(0, 2), 'v=');
      await redis.stop();
      // The guest fails on its own after the errno; its caller learns the node's reason (issue 12).
      await assert.rejects(plume.invoke('state', 'get:x'), {
        code: 'PLUME_ESTATE_UNAVAILABLE',
        message: /function 'state' failed: .*unavailable/,
      });
      // A guest that handles the errno and succeeds is not overruled.
      assert.equal(text(await plume.invoke('state', 'delete:x')), '9', 'errno unavailable');
      await redis.restart();
      // The backend reconnects in the background; until it has, the guest keeps getting `unavailable`.
      let out = '';
      for (let i = 0; i < 50 && !out.startsWith('v='); i++) {
        out = await plume.invoke('state', 'set:x:2').then(text, () => '');
        if (!out.startsWith('v=')) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(out, /^v=\d+$/);
    } finally {
      await plume.close();
      await redis.stop();
    }
  });
});

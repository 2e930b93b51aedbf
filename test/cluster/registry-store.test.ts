/**
 * One contract for both registry stores (src/cluster/registry-store.ts): Redis and the data directory
 * keep entries with growing versions, keep files by hash, delete the files no entry names any more, and
 * the Redis one announces every change to the other nodes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataDirStore } from '../../src/cluster/data-dir.ts';
import { RedisRegistryStore } from '../../src/cluster/registry-redis.ts';
import { sha256Hex, type EntryKind, type RegistryStore } from '../../src/cluster/registry-store.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';

const one = new TextEncoder().encode('module one');
const two = new TextEncoder().encode('module two');

function contract(label: string, open: () => Promise<RegistryStore>): void {
  describe(`${label} registry store`, () => {
    let store: RegistryStore;
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    it('should keep an entry with its version, growing on each put and after a delete', async () => {
      const files = new Map([[sha256Hex(one), one]]);
      assert.equal(await store.put('function', 'f', { sha256: sha256Hex(one) }, files), 1);
      assert.equal(await store.put('function', 'f', { sha256: sha256Hex(one), options: {} }, files), 2);
      assert.deepEqual(JSON.parse((await store.entry('function', 'f'))!), { version: 2, sha256: sha256Hex(one), options: {} });
      assert.deepEqual([...(await store.entries('function')).keys()], ['f']);
      assert.deepEqual([...(await store.entries('workflow')).keys()], [], 'kinds are kept apart');
      assert.deepEqual(await store.file(sha256Hex(one)), one);
      assert.equal(await store.delete('function', 'f'), true);
      assert.equal(await store.delete('function', 'f'), false);
      assert.equal(await store.entry('function', 'f'), undefined);
      const again = await store.put('function', 'f', { sha256: sha256Hex(one) }, files);
      assert.ok(again >= 1);
      await store.delete('function', 'f');
    });

    it('should delete a file once no entry of any kind names it', async () => {
      const a = sha256Hex(one);
      const b = sha256Hex(two);
      await store.put('function', 'x', { sha256: a }, new Map([[a, one]]));
      await store.put('workflow', 'w', { spec: 'name: w', files: { 'one.wasm': a } }, new Map([[a, one]]));
      await store.put('function', 'x', { sha256: b }, new Map([[b, two]]));
      assert.deepEqual(await store.file(a), one, 'the workflow still names it');
      await store.delete('workflow', 'w');
      assert.equal(await store.file(a), undefined);
      assert.deepEqual(await store.file(b), two);
      await store.delete('function', 'x');
      assert.equal(await store.file(b), undefined);
    });
  });
}

let redis: RedisServer;
const folders: string[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

contract('Redis', async () => {
  const store = new RedisRegistryStore({ url: redis.url });
  await store.connect();
  return store;
});
contract('data directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plume-store-'));
  folders.push(dir);
  return DataDirStore.open(dir);
});

describe('the Redis registry store', () => {
  it('should announce puts and deletes to another node watching', async () => {
    const writer = new RedisRegistryStore({ url: redis.url });
    const watcher = new RedisRegistryStore({ url: redis.url });
    await writer.connect();
    await watcher.connect();
    const heard: string[] = [];
    await watcher.watch({ changed: (kind: EntryKind, name: string) => void heard.push(`${kind}:${name}`), resync: () => {} });
    await writer.put('model', 'm', { sha256: sha256Hex(one) }, new Map([[sha256Hex(one), one]]));
    await writer.delete('model', 'm');
    await eventually(async () => assert.deepEqual(heard, ['model:m', 'model:m']));
    await writer.close();
    await watcher.close();
  });
});

/** Builds the benchmark fixtures in bench/fixtures from their WAT sources (needs the wabt dev dependency). */
import { readFileSync, writeFileSync } from 'node:fs';

const wabt = await (await import('wabt')).default();
const dir = new URL('../bench/fixtures/', import.meta.url);
const template = readFileSync(new URL('snapshot.wat', dir), 'utf8');
for (const kb of [64, 1024]) {
  const size = kb * 1024;
  const wat = template.replaceAll('{SIZE}', String(size)).replaceAll('{PAGES}', String(Math.ceil(size / 65536)));
  const module = wabt.parseWat(`snapshot-${kb}k.wat`, wat, { bulk_memory: true });
  writeFileSync(new URL(`snapshot-${kb}k.wasm`, dir), module.toBinary({}).buffer);
  console.log(`built bench/fixtures/snapshot-${kb}k.wasm`);
}

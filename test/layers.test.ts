/** The layer order of src/ (eslint.config.js) is enforced: a back-edge fails `npm run lint`; files stay readable. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { root } from './helpers.ts';

const eslint = new ESLint({ cwd: root });
const lint = async (path: string, code: string): Promise<string[]> => {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
};

describe('layers', () => {
  it('should refuse an import from a higher layer (data importing the engine)', async () => {
    const messages = await lint('src/data/probe.ts', "import type { Limits } from '../engine/definition.ts';\nexport type L = Limits;\n");
    assert.ok(
      messages.some((m) => m.startsWith('import-x/no-restricted-paths') && /data sits below/.test(m)),
      messages.join('\n'),
    );
  });

  it('should refuse the engine importing a host interface, and the scheduler the executor', async () => {
    const engine = await lint('src/engine/probe.ts', "export { wasiPreview1 } from '../host/index.ts';\n");
    assert.ok(
      engine.some((m) => /engine sits below/.test(m)),
      engine.join('\n'),
    );
    const scheduler = await lint('src/scheduler/probe.ts', "export type { InvocationResult } from '../executor/executor.ts';\n");
    assert.ok(
      scheduler.some((m) => /scheduler sits below/.test(m)),
      scheduler.join('\n'),
    );
  });

  it('should allow an import from a lower layer and from the leaves', async () => {
    const messages = await lint(
      'src/executor/probe.ts',
      "import type { Limits } from '../engine/definition.ts';\nimport { PlumeError } from '../errors.ts';\nexport type L = Limits;\nexport const E = PlumeError;\n",
    );
    assert.deepEqual(messages, []);
  });

  it('should keep every file in src/ at 500 lines or fewer', () => {
    const files = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const long = files
      .map((f) => [relative(root, join(root, 'src', f)), readFileSync(join(root, 'src', f), 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > 500);
    assert.deepEqual(long, []);
  });
});

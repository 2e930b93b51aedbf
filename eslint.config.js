// Lint with typescript-eslint's recommended rules and the layer order of src/; CI runs it (`npm run lint`).
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first: a module may import from its own layer and the layers before it, never
 * from one after it (docs/runtime.md, "Layers"). errors.ts, events.ts and read-file.ts are leaves that
 * every layer may use; cli/ and index.ts sit on top.
 */
export const LAYERS = [
  'data',
  'state',
  'engine',
  'scheduler',
  'inference',
  'host',
  'executor',
  'workflow',
  'runtime.ts',
  'cluster',
  'gateway',
  'cli',
];
const LEAVES = ['errors.ts', 'events.ts', 'read-file.ts'];

const zones = [
  ...LAYERS.map((layer, i) => ({
    target: `./src/${layer}`,
    from: LAYERS.slice(i + 1)
      .map((above) => `./src/${above}`)
      .concat('./src/index.ts'),
    message: `${layer} sits below these layers and must not import them (eslint.config.js, LAYERS)`,
  })),
  {
    target: LEAVES.map((leaf) => `./src/${leaf}`),
    from: './src',
    except: LEAVES.map((leaf) => `./${leaf}`),
    message: 'a leaf module imports no other module of src/',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'sdk/assemblyscript/', 'examples/**/*.ts', 'test/guests/*.ts', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard's front end runs in the browser, as plain ES modules (docs/ui.md).
    files: ['src/ui/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'fetch',
          'EventSource',
          'performance',
          'atob',
          'Blob',
          'TextEncoder',
          'TextDecoder',
          'addEventListener',
          'removeEventListener',
          'setTimeout',
          'clearTimeout',
          'console',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })] },
    rules: { 'import-x/no-restricted-paths': ['error', { zones }] },
  },
);

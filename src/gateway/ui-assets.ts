/**
 * The dashboard's static files: its own (src/ui/) and the front-end libraries it imports (Preact, its
 * hooks, htm), read from the installed packages once at start-up and served from memory. Nothing is
 * fetched from elsewhere at run time: the page works offline. There is no build step: the browser loads
 * the ES modules as they are, and an import map in index.html names the libraries.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The libraries, by the names the import map gives them (index.html). */
const VENDOR: Record<string, string> = {
  'preact.js': 'preact',
  'hooks.js': 'preact/hooks',
  'htm.js': 'htm',
};

export interface UiAssets {
  /** Files under src/ui/, by path relative to it ('index.html', 'app/main.js'). */
  readonly files: ReadonlyMap<string, Asset>;
  readonly vendor: ReadonlyMap<string, Asset>;
  /** The Content-Security-Policy of the pages: scripts only from the node, plus the inline import map by hash. */
  readonly csp: string;
}

let loaded: UiAssets | undefined;

export function uiAssets(): UiAssets {
  return (loaded ??= load());
}

function load(): UiAssets {
  const dir = fileURLToPath(new URL('../ui/', import.meta.url));
  const files = new Map<string, Asset>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path).split('\\').join('/'), { body: readFileSync(path), type });
  }
  const vendor = new Map<string, Asset>();
  for (const [file, specifier] of Object.entries(VENDOR)) {
    vendor.set(file, { body: readFileSync(fileURLToPath(import.meta.resolve(specifier))), type: TYPES['.js']! });
  }
  const index = files.get('index.html')?.body.toString('utf8') ?? '';
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1];
  if (importMap === undefined) throw new Error('src/ui/index.html has no import map');
  const hash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { files, vendor, csp };
}

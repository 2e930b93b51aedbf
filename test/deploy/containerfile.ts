/**
 * Reads a Containerfile the way a builder does (continuation lines, comments, ARG defaults) and finds
 * what would break the build or the image without building it: no container engine runs here. The
 * build itself is documented in docs/deploy.md.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

export function parseContainerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const space = full.search(/\s/);
    out.push({ keyword: full.slice(0, space).toUpperCase(), args: full.slice(space + 1).trim() });
  }
  if (pending !== '') out.push({ keyword: 'INCOMPLETE', args: pending });
  return out;
}

/** The exec (JSON) form of CMD/ENTRYPOINT; undefined for the shell form, which needs a shell in the image. */
export function execForm(args: string | undefined): string[] | undefined {
  if (args === undefined || !args.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `COPY [--flags] src... dest`: the sources and the flags. */
function copyParts(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  return { flags, sources: rest.slice(0, -1), dest: rest.at(-1) ?? '' };
}

/** True when the build context's ignore file leaves `path` out (its patterns here are plain paths and globs). */
function ignored(path: string, patterns: string[]): boolean {
  return patterns.some((p) => {
    const re = new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(.*/)?')
        .replace(/\*/g, '[^/]*')}(/.*)?$`,
    );
    return re.test(path);
  });
}

export interface ContainerfileExpectations {
  /** The build context (the repository root). */
  readonly context: string;
  /** The Node major version the final image must run. */
  readonly nodeMajor: number;
  /** Repository paths the image must contain. */
  readonly mustContain: readonly string[];
}

export interface ContainerfileCheck {
  /** Every problem found; empty when the Containerfile would build an image that runs its entrypoint. */
  readonly problems: string[];
  /** The repository file the ENTRYPOINT runs, when it was found. */
  readonly entrypointFile?: string;
}

export function checkContainerfile(text: string, expect: ContainerfileExpectations): ContainerfileCheck {
  const problems: string[] = [];
  const instructions = parseContainerfile(text);
  if (instructions.some((i) => i.keyword === 'INCOMPLETE')) problems.push('the file ends inside a continued line');
  const argDefaults = new Map<string, string>();
  for (const i of instructions.filter((x) => x.keyword === 'ARG')) {
    const [name, value] = i.args.split('=');
    if (name && value !== undefined) argDefaults.set(name, value);
  }
  const expand = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => argDefaults.get(a ?? b) ?? '');

  const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => expand(i.args.split(/\s+/)[0] ?? ''));
  if (froms.length === 0) problems.push('no FROM');
  const final = froms.at(-1) ?? '';
  if (!new RegExp(`(^|/)node:${expect.nodeMajor}([.-]|$)`).test(final)) {
    problems.push(`the final stage is built FROM '${final}', not Node ${expect.nodeMajor}`);
  }

  const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const npmCi = instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b[^&]*--omit=dev/.test(i.args));
  if (npmCi < 0) problems.push('no RUN npm ci --omit=dev');
  const npmrcCopied = instructions
    .slice(0, Math.max(npmCi, 0))
    .some((i) => i.keyword === 'COPY' && copyParts(i.args).sources.includes('.npmrc'));
  if (npmCi >= 0 && !npmrcCopied) problems.push('.npmrc is not copied before npm ci (onnxruntime-node would download CUDA)');

  const ignoreFile = join(expect.context, '.dockerignore');
  const patterns = existsSync(ignoreFile)
    ? readFileSync(ignoreFile, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  /** Image path → repository path, for what is copied from the context. */
  const copied = new Map<string, string>();
  let workdir = '/';
  for (const i of instructions) {
    if (i.keyword === 'FROM') workdir = '/';
    if (i.keyword === 'WORKDIR') workdir = posix.resolve(workdir, i.args);
    if (i.keyword !== 'COPY' && i.keyword !== 'ADD') continue;
    const { flags, sources, dest } = copyParts(i.args);
    if (flags.some((f) => f.startsWith('--from='))) continue;
    for (const source of sources) {
      const clean = posix.normalize(source).replace(/\/$/, '');
      if (clean.startsWith('..')) problems.push(`COPY ${source} reaches outside the build context`);
      else if (!existsSync(join(expect.context, clean))) problems.push(`COPY ${source}: no such file in the build context`);
      else if (ignored(clean, patterns)) problems.push(`COPY ${source}: .dockerignore leaves it out of the build context`);
      // A file copied to a directory (dest ending in '/') keeps its name; a directory's contents go to dest.
      const target = posix.resolve(workdir, dest);
      const isFile = existsSync(join(expect.context, clean)) && !statSync(join(expect.context, clean)).isDirectory();
      copied.set(isFile && dest.endsWith('/') ? posix.join(target, posix.basename(clean)) : target, clean);
    }
  }
  const inImage = (imagePath: string): string | undefined => {
    for (const [target, source] of copied) {
      if (imagePath === target) return source;
      if (imagePath.startsWith(`${target}/`)) return posix.join(source, imagePath.slice(target.length + 1));
    }
    return undefined;
  };
  for (const path of expect.mustContain) {
    if (![...copied.values()].some((source) => path === source || path.startsWith(`${source}/`))) problems.push(`the image lacks ${path}`);
  }

  const user = instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
  if (!user) problems.push('no USER: the image runs as root');
  else if (!/^[1-9]\d*(:\d+)?$/.test(user))
    problems.push(`USER ${user}: must be a numeric non-root uid (runAsNonRoot cannot check a name)`);

  if (!execForm(instructions.filter((i) => i.keyword === 'CMD').at(-1)?.args)) problems.push('CMD must be in exec form');
  const entrypoint = execForm(instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args);
  if (!entrypoint?.length) return { problems: [...problems, 'ENTRYPOINT must be in exec form'] };
  const command = commandFile(entrypoint[0]!, runs, inImage, expect.context);
  if (typeof command !== 'string') return { problems: [...problems, command.problem] };
  return { problems, entrypointFile: command };
}

/** The entrypoint must be a link made by a RUN to a copied, executable script (or an absolute path to one). */
function commandFile(
  command: string,
  runs: string[],
  inImage: (path: string) => string | undefined,
  context: string,
): string | { problem: string } {
  let imagePath = command;
  if (!command.startsWith('/')) {
    const link = runs.map((r) => r.match(new RegExp(`ln -s\\S* (\\S+) (/usr/local/bin|/usr/bin|/bin)/${command}(\\s|$)`))).find((m) => m);
    if (!link) return { problem: `ENTRYPOINT '${command}' is not on the PATH: no RUN links it into a bin directory` };
    imagePath = link[1]!;
  }
  const source = inImage(imagePath);
  if (!source) return { problem: `ENTRYPOINT '${command}' → ${imagePath}, which no COPY puts in the image` };
  const file = join(context, source);
  if (!existsSync(file)) return { problem: `ENTRYPOINT '${command}' → ${source}, which does not exist` };
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return { problem: `ENTRYPOINT '${command}' → ${source}, which is not executable` };
  }
  if (!readFileSync(file, 'utf8').startsWith('#!')) return { problem: `ENTRYPOINT '${command}' → ${source}, which has no shebang` };
  return source;
}

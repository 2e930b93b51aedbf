/**
 * Reading a workflow spec: YAML or JSON text (or an object from the builder) → a checked `WorkflowSpec`.
 * Every problem becomes one PLUME_ESPEC error whose message points at the field (`steps[2].retry.attempts`)
 * and, for text, its line. Checks that need the whole spec (references, cycles, duplicates) run after the
 * field checks; checks against what is deployed run at apply time (registry.ts).
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { NAME } from '../engine/definition.ts';
import { PlumeError } from '../errors.ts';
import { INPUT, type StepRef, type StepSpec, type WorkflowSpec } from './types.ts';

const STEP_ID = /^[a-z][a-z0-9_-]{0,62}$/i;

export type SpecPath = readonly (string | number)[];

export interface SpecIssue {
  readonly path: SpecPath;
  readonly message: string;
}

/** A checked spec and, when it came from text, where each field sits. */
export interface ParsedSpec {
  readonly spec: WorkflowSpec;
  /** The 1-based line of the field at `path` (or of its nearest parent), for text specs. */
  readonly line: (path: SpecPath) => number | undefined;
}

// ---- field checks (zod) ----

/** The error option of a zod type: "required" when absent, else what was expected and what came. */
function expected(what: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? 'required' : `expected ${what}, got ${shown(issue.input)}`) };
}

const positiveInt = z.int(expected('a positive integer')).min(1, expected('a positive integer'));
const nonNegativeInt = z.int(expected('an integer ≥ 0')).min(0, expected('an integer ≥ 0'));
const name = (what: string) => z.string(expected(what)).regex(NAME, expected(`${what} (letters, digits, '.', '_', '-'; at most 63)`));
/** Scalars a YAML author writes unquoted (`equals: 42`) count as their text. */
const text = z.union([z.string(), z.number(), z.boolean()], expected('a string')).transform(String);
const ref = z.union([z.string(), z.array(z.string())], expected('a step id or a list of step ids'));

const condition = z.strictObject(
  { step: z.string(expected('a step id')), equals: text.optional(), matches: z.string(expected('a regex')).optional() },
  expected('an object { step, equals | matches }'),
);

const step = z.strictObject(
  {
    id: z.string(expected('a step id')).regex(STEP_ID, expected("a step id (a letter, then letters, digits, '_', '-')")),
    function: name('a function name'),
    input: ref.optional(),
    map: ref.optional(),
    reduce: ref.optional(),
    initial: text.optional(),
    concurrency: positiveInt.optional(),
    when: condition.optional(),
    unless: condition.optional(),
    timeoutMs: positiveInt.optional(),
    retry: z
      .strictObject({ attempts: positiveInt, backoffMs: nonNegativeInt.optional() }, expected('an object { attempts, backoffMs }'))
      .optional(),
  },
  expected('a step object'),
);

const limits = z.strictObject(
  {
    memoryMb: positiveInt.optional(),
    timeoutMs: positiveInt.optional(),
    maxOutputBytes: positiveInt.optional(),
    maxInputBytes: positiveInt.optional(),
    maxConcurrency: positiveInt.optional(),
  },
  expected('an object of limits'),
);

const functionSource = z.strictObject(
  {
    module: z.string(expected('a path to a .wasm')).min(1, expected('a path to a .wasm')),
    entry: z.string(expected('an export name')).optional(),
    stateful: z.boolean(expected('true or false')).optional(),
    limits: limits.optional(),
    env: z.record(z.string(), z.string(expected('a string')), expected('an object of strings')).optional(),
    args: z.array(z.string(expected('a string')), expected('a list of strings')).optional(),
  },
  expected('an object { module, entry, … }'),
);

/** A model file: a path relative to the spec, or `{ package: '<npm package>/<path>' }` found on the node (package-file.ts). */
const modelSource = z.union(
  [z.string().min(1), z.strictObject({ package: z.string(expected('an npm package path')).min(1, expected('an npm package path')) })],
  expected("a path to an .onnx, or { package: '<npm package>/<path>' }"),
);

const workflowSchema = z.strictObject(
  {
    name: name('a workflow name'),
    description: z.string(expected('a string')).optional(),
    functions: z.record(name('a function name'), functionSource, expected('an object: name → { module, … }')).optional(),
    models: z.record(name('a model name'), modelSource, expected('an object: name → path or { package }')).optional(),
    steps: z.array(step, expected('a list of steps')).min(1, { error: 'needs at least one step' }),
    output: ref.optional(),
  },
  expected('a workflow object { name, steps, … }'),
);

function fieldIssues(error: z.ZodError): SpecIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const [key, ...others] = issue.keys;
      const more = others.length ? ` (and ${others.map((k) => `'${k}'`).join(', ')})` : '';
      return { path: [...(issue.path as SpecPath), key!], message: `unknown field${more}` };
    }
    if (issue.code === 'invalid_key') return { path: issue.path as SpecPath, message: `invalid name '${String(issue.path.at(-1))}'` };
    return { path: issue.path as SpecPath, message: issue.message };
  });
}

// ---- whole-spec checks ----

/** The step ids a reference names, each with its path. */
function refs(value: StepRef | undefined, path: SpecPath): { id: string; path: SpecPath }[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [{ id: value, path }];
  return value.map((id, i) => ({ id, path: [...path, i] }));
}

/** Every step id a step waits for (its data and its condition), with the path that names it. */
export function dependencies(s: StepSpec, at: SpecPath): { id: string; path: SpecPath }[] {
  return [
    ...refs(s.input, [...at, 'input']),
    ...refs(s.map, [...at, 'map']),
    ...refs(s.reduce, [...at, 'reduce']),
    ...refs(s.when?.step, [...at, 'when', 'step']),
    ...refs(s.unless?.step, [...at, 'unless', 'step']),
  ];
}

function wholeSpecIssues(spec: WorkflowSpec): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const first = new Map<string, number>();
  spec.steps.forEach((s, i) => {
    const seen = first.get(s.id);
    if (seen === undefined) first.set(s.id, i);
    else issues.push({ path: ['steps', i, 'id'], message: `duplicate step id '${s.id}' (first used by steps[${seen}])` });
  });
  let unknown = false;
  const checkRefs = (list: { id: string; path: SpecPath }[], self?: string): void => {
    for (const r of list) {
      if (r.id === self) issues.push({ path: r.path, message: `step '${self}' cannot read its own output` });
      else if (r.id !== INPUT && !first.has(r.id)) {
        unknown = true;
        issues.push({
          path: r.path,
          message: `unknown step '${r.id}'${r.id.startsWith('$') ? ` (the workflow input is '${INPUT}')` : ''}`,
        });
      }
    }
  };
  spec.steps.forEach((s, i) => {
    const at = ['steps', i];
    const sources = (['input', 'map', 'reduce'] as const).filter((k) => s[k] !== undefined);
    if (sources.length > 1) issues.push({ path: at, message: `give one of input, map, reduce (got ${sources.join(' and ')})` });
    if (s.initial !== undefined && s.reduce === undefined)
      issues.push({ path: [...at, 'initial'], message: 'only a reduce step takes initial' });
    if (s.concurrency !== undefined && s.map === undefined)
      issues.push({ path: [...at, 'concurrency'], message: 'only a map step takes concurrency' });
    if (s.when && s.unless) issues.push({ path: at, message: 'give when or unless, not both' });
    for (const k of ['input', 'map', 'reduce'] as const) {
      const v = s[k];
      if (Array.isArray(v) && v.length === 0) issues.push({ path: [...at, k], message: 'an empty list of steps' });
    }
    for (const k of ['when', 'unless'] as const) {
      const c = s[k];
      if (!c) continue;
      if ((c.equals === undefined) === (c.matches === undefined)) issues.push({ path: [...at, k], message: 'give one of equals, matches' });
      if (c.matches !== undefined) {
        try {
          new RegExp(c.matches);
        } catch (err) {
          issues.push({ path: [...at, k, 'matches'], message: `invalid regex: ${(err as Error).message}` });
        }
      }
    }
    checkRefs(dependencies(s, at), s.id);
  });
  checkRefs(refs(spec.output, ['output']));
  if (Array.isArray(spec.output) && spec.output.length === 0) issues.push({ path: ['output'], message: 'an empty list of steps' });
  // A cycle through an unknown step cannot be told apart from the typo that caused it: report the typo only.
  if (!unknown) issues.push(...cycleIssues(spec));
  return issues;
}

/** The first cycle found, as `a → b → a`, at the step whose reference closes it. */
function cycleIssues(spec: WorkflowSpec): SpecIssue[] {
  const index = new Map(spec.steps.map((s, i) => [s.id, i]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): SpecIssue | undefined => {
    state.set(id, 'open');
    stack.push(id);
    const i = index.get(id)!;
    for (const d of dependencies(spec.steps[i]!, ['steps', i])) {
      if (d.id === INPUT || d.id === id) continue;
      if (state.get(d.id) === 'open') {
        const cycle = [...stack.slice(stack.indexOf(d.id)), d.id].reverse();
        return { path: d.path, message: `cycle: ${cycle.map((c) => `'${c}'`).join(' → ')} (each reads the next)` };
      }
      if (!state.has(d.id)) {
        const found = visit(d.id);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of spec.steps) {
    if (state.has(s.id)) continue;
    const found = visit(s.id);
    if (found) return [found];
  }
  return [];
}

// ---- entry points ----

/** Parse and check a spec; throws PLUME_ESPEC listing the first problem (all of them in `details.issues`). */
export function parseSpec(source: WorkflowSpec | string): ParsedSpec {
  let raw: unknown = source;
  let line: ParsedSpec['line'] = () => undefined;
  if (typeof source === 'string') {
    const lines = new LineCounter();
    const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const syntax = doc.errors[0];
    if (syntax) {
      const at = lines.linePos(syntax.pos[0]);
      const message = syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new PlumeError('PLUME_ESPEC', `workflow spec: YAML syntax error at line ${at.line}, column ${at.col}: ${message}`, {
        line: at.line,
      });
    }
    raw = doc.toJS();
    line = (path) => lineOf(doc, lines, path);
  }
  const parsed = workflowSchema.safeParse(raw);
  const named = typeof (raw as { name?: unknown })?.name === 'string' ? (raw as { name: string }).name : undefined;
  if (!parsed.success) throw specError(named, fieldIssues(parsed.error), line);
  const spec = parsed.data as WorkflowSpec;
  const issues = wholeSpecIssues(spec);
  if (issues.length) throw specError(spec.name, issues, line);
  return { spec, line };
}

/** One PLUME_ESPEC error for a list of issues: the first in the message, all in `details.issues`. */
export function specError(
  workflow: string | undefined,
  issues: readonly SpecIssue[],
  line: ParsedSpec['line'] = () => undefined,
): PlumeError {
  const located = issues.map((i) => ({ path: formatPath(i.path), line: line(i.path), message: i.message }));
  const describe = (i: (typeof located)[number]): string => `${i.path || '(spec)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`;
  const more = located.length > 1 ? ` (and ${located.length - 1} more)` : '';
  const prefix = workflow === undefined ? 'workflow spec' : `workflow '${workflow}'`;
  return new PlumeError('PLUME_ESPEC', `${prefix}: ${describe(located[0]!)}${more}`, { workflow, issues: located });
}

/** `['steps', 2, 'retry', 'attempts']` → `steps[2].retry.attempts`. */
export function formatPath(path: SpecPath): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : !/^[\w$-]+$/.test(p) ? `[${JSON.stringify(p)}]` : i === 0 ? p : `.${p}`))
    .join('');
}

function lineOf(doc: Document, lines: LineCounter, path: SpecPath): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const s = typeof value === 'string' ? `'${value}'` : String(value);
  return s.length > 40 ? `${s.slice(0, 37)}…` : s;
}

/** Bad workflow specs are refused with PLUME_ESPEC and a message that points at the field (and its line). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume, workflow, type WorkflowSpec } from '../../src/index.ts';
import { parseSpec } from '../../src/workflow/spec.ts';
import { example, rejection } from '../helpers.ts';

const dir = example('workflows');

/** A spec whose steps are given as YAML lines (indented under `steps:`). */
const yaml = (steps: string, extra = ''): string => `name: w\n${extra}steps:\n${steps}`;

describe('workflow specs', () => {
  let plume: Plume;

  before(async () => {
    plume = await Plume.start({ workers: 1 });
    for (const fn of ['upper', 'reverse', 'join']) await plume.deploy(fn, `${dir}/text.wasm`, { entry: fn });
  });
  after(() => plume.close());

  const refused = async (spec: string | WorkflowSpec, message: RegExp): Promise<void> => {
    const err = await rejection(plume.applyWorkflow(spec, { baseDir: dir }));
    assert.equal(err.code, 'PLUME_ESPEC', err.message);
    assert.match(err.message, message);
  };

  const cases: [string, string, RegExp][] = [
    [
      'a cycle',
      yaml(
        '  - { id: a, function: upper, input: c }\n  - { id: b, function: upper, input: a }\n  - { id: c, function: upper, input: b }\n',
      ),
      /^workflow 'w': steps\[\d\]\.input \(line \d\): cycle: '(\w)' → '\w' → '\w' → '\1' \(each reads the next\)$/,
    ],
    [
      'a step that reads itself',
      yaml('  - { id: a, function: upper, input: a }\n'),
      /steps\[0\]\.input \(line 3\): step 'a' cannot read its own output/,
    ],
    [
      'an unknown step in input',
      yaml('  - id: loud\n    function: upper\n  - id: back\n    function: reverse\n    input: lod\n'),
      /^workflow 'w': steps\[1\]\.input \(line 7\): unknown step 'lod'$/,
    ],
    [
      'an unknown step in a join',
      yaml('  - { id: a, function: upper }\n  - { id: b, function: join, input: [a, zz] }\n'),
      /steps\[1\]\.input\[1\] \(line 4\): unknown step 'zz'/,
    ],
    [
      'an unknown condition step',
      yaml('  - { id: a, function: upper, when: { step: nope, equals: x } }\n'),
      /steps\[0\]\.when\.step \(line 3\): unknown step 'nope'/,
    ],
    ['the input misspelt', yaml('  - { id: a, function: upper, input: $in }\n'), /unknown step '\$in' \(the workflow input is '\$input'\)/],
    [
      'an output naming a missing step',
      yaml('  - { id: a, function: upper }\n', 'output: b\n'),
      /^workflow 'w': output \(line 2\): unknown step 'b'$/,
    ],
    [
      'duplicate step ids',
      yaml('  - { id: a, function: upper }\n  - { id: a, function: reverse }\n'),
      /^workflow 'w': steps\[1\]\.id \(line 4\): duplicate step id 'a' \(first used by steps\[0\]\)$/,
    ],
    [
      'retry.attempts that is not a positive integer',
      yaml('  - id: a\n    function: upper\n  - id: b\n    function: upper\n  - id: c\n    function: upper\n    retry: { attempts: 0 }\n'),
      /^workflow 'w': steps\[2\]\.retry\.attempts \(line 9\): expected a positive integer, got 0$/,
    ],
    [
      'a timeout given as text',
      yaml('  - id: a\n    function: upper\n    timeoutMs: fast\n'),
      /steps\[0\]\.timeoutMs \(line 5\): expected a positive integer, got 'fast'/,
    ],
    [
      'a fractional backoff',
      yaml('  - { id: a, function: upper, retry: { attempts: 2, backoffMs: 1.5 } }\n'),
      /steps\[0\]\.retry\.backoffMs \(line 3\): expected an integer ≥ 0, got 1.5/,
    ],
    [
      'a function name that is a number list',
      yaml('  - { id: a, function: [1] }\n'),
      /steps\[0\]\.function \(line 3\): expected a function name, got a list/,
    ],
    [
      'an input that is an object',
      yaml('  - { id: a, function: upper, input: { from: x } }\n'),
      /steps\[0\]\.input \(line 3\): expected a step id or a list of step ids, got an object/,
    ],
    [
      'a misspelt field',
      yaml('  - id: a\n    function: upper\n    retries: 3\n'),
      /^workflow 'w': steps\[0\]\.retries \(line 5\): unknown field$/,
    ],
    ['a missing function', yaml('  - id: a\n'), /steps\[0\]\.function \(line 3\): required/],
    ['a missing name', 'steps:\n  - { id: a, function: upper }\n', /^workflow spec: name \(line 1\): required$/],
    ['no steps', 'name: w\nsteps: []\n', /steps \(line 2\): needs at least one step/],
    ['a bad step id', yaml('  - { id: 1st, function: upper }\n'), /steps\[0\]\.id \(line 3\): expected a step id \(a letter, then/],
    [
      'input and map together',
      yaml('  - { id: a, function: upper }\n  - { id: b, function: upper, input: a, map: a }\n'),
      /steps\[1\] \(line 4\): give one of input, map, reduce \(got input and map\)/,
    ],
    [
      'initial without reduce',
      yaml('  - { id: a, function: upper, initial: "0" }\n'),
      /steps\[0\]\.initial \(line 3\): only a reduce step takes initial/,
    ],
    [
      'concurrency without map',
      yaml('  - { id: a, function: upper, concurrency: 2 }\n'),
      /steps\[0\]\.concurrency \(line 3\): only a map step takes concurrency/,
    ],
    ['an empty join', yaml('  - { id: a, function: join, input: [] }\n'), /steps\[0\]\.input \(line 3\): an empty list of steps/],
    [
      'a condition with both tests',
      yaml('  - { id: a, function: upper, when: { step: $input, equals: x, matches: y } }\n'),
      /steps\[0\]\.when \(line 3\): give one of equals, matches/,
    ],
    [
      'a bad regex',
      yaml('  - { id: a, function: upper, when: { step: $input, matches: "(" } }\n'),
      /steps\[0\]\.when\.matches \(line 3\): invalid regex: /,
    ],
    [
      'when and unless together',
      yaml('  - { id: a, function: upper, when: { step: $input, equals: x }, unless: { step: $input, equals: y } }\n'),
      /give when or unless, not both/,
    ],
    [
      'a bad limit',
      yaml('  - { id: a, function: f }\n', 'functions:\n  f: { module: text.wasm, limits: { memoryMb: -1 } }\n'),
      /functions\.f\.limits\.memoryMb \(line 3\): expected a positive integer, got -1/,
    ],
    [
      'a YAML syntax error',
      'name: w\nsteps:\n  - id: a\n    function: [upper\n  - id: b\n',
      /^workflow spec: YAML syntax error at line \d, column \d+: /,
    ],
    [
      'a duplicate YAML key',
      'name: w\nname: v\nsteps: []\n',
      /^workflow spec: YAML syntax error at line 2, column 1: Map keys must be unique/,
    ],
    ['a JSON syntax error', '{ "name": "w", "steps": [ { "id": "a" ] }', /^workflow spec: YAML syntax error at line 1, column \d+/],
    ['not an object', '42', /^workflow spec: \(spec\) \(line 1\): expected a workflow object \{ name, steps, … \}, got 42$/],
    // Checks against the node, at apply time.
    [
      'an unknown function',
      yaml('  - id: a\n    function: upper\n  - id: b\n    function: nope\n'),
      /^workflow 'w': steps\[1\]\.function \(line 6\): no function 'nope' is deployed, listed under functions or served by a peer$/,
    ],
    [
      'a module that is not there',
      yaml('  - { id: a, function: f }\n', 'functions:\n  f: { module: missing.wasm }\n'),
      /functions\.f\.module \(line 3\): cannot read '.*missing\.wasm' \(ENOENT\)/,
    ],
    [
      'a model that is not there',
      yaml('  - { id: a, function: upper }\n', 'models:\n  det: nowhere/det.onnx\n'),
      /models\.det \(line 3\): cannot read '.*nowhere\/det\.onnx' \(ENOENT\)/,
    ],
  ];

  for (const [what, spec, message] of cases) {
    it(`should refuse ${what}`, () => refused(spec, message));
  }

  it('should count the other problems and list them all in details', async () => {
    const err = await rejection(plume.applyWorkflow(yaml('  - { id: a, function: upper, retry: { attempts: 0 }, timeoutMs: -1 }\n')));
    assert.match(err.message, /\(and 1 more\)$/);
    const err2 = await rejection(
      plume.applyWorkflow(yaml('  - { id: a, function: upper, input: x }\n  - { id: a, function: upper }\n', 'output: y\n')),
    );
    assert.deepEqual(
      (err2.details['issues'] as { path: string }[]).map((i) => i.path),
      ['steps[1].id', 'steps[0].input', 'output'],
    );
  });

  it('should deploy nothing when any check fails', async () => {
    const before = plume.list().length;
    await refused(
      yaml('  - { id: a, function: fresh }\n  - { id: b, function: nope }\n', 'functions:\n  fresh: { module: text.wasm, entry: upper }\n'),
      /no function 'nope'/,
    );
    assert.equal(plume.list().length, before);
    assert.deepEqual(plume.workflows(), []);
  });

  it('should point at builder fields by path, without lines', async () => {
    assert.throws(
      () =>
        workflow('w')
          .step('a', 'upper')
          .step('b', 'upper', { input: 'a', retry: { attempts: 1.5 } })
          .build(),
      (err: Error & { code?: string }) =>
        err.code === 'PLUME_ESPEC' && err.message === "workflow 'w': steps[1].retry.attempts: expected a positive integer, got 1.5",
    );
    await refused(
      { name: 'w', steps: [{ id: 'a', function: 'upper', input: 'b' }] },
      /^workflow 'w': steps\[0\]\.input: unknown step 'b'$/,
    );
  });

  it('should build the same spec from the builder as from YAML and JSON', () => {
    const text = `
name: letters
description: letters in a sentence
functions:
  words: { module: text.wasm, entry: words }
  length: { module: text.wasm, entry: length, limits: { timeoutMs: 1000 } }
steps:
  - id: words
    function: words
  - id: lengths
    function: length
    map: words
    concurrency: 8
    retry: { attempts: 2, backoffMs: 5 }
  - id: total
    function: sum
    reduce: lengths
    initial: 0
    timeoutMs: 500
  - id: big
    function: upper
    input: [lengths, total]
    when: { step: total, matches: '^\\d{2,}$' }
output: [total, big]
`;
    const built = workflow('letters')
      .describe('letters in a sentence')
      .function('words', { module: 'text.wasm', entry: 'words' })
      .function('length', { module: 'text.wasm', entry: 'length', limits: { timeoutMs: 1000 } })
      .step('words', 'words')
      .step('lengths', 'length', { map: 'words', concurrency: 8, retry: { attempts: 2, backoffMs: 5 } })
      .step('total', 'sum', { reduce: 'lengths', initial: '0', timeoutMs: 500 })
      .step('big', 'upper', { input: ['lengths', 'total'], when: { step: 'total', matches: '^\\d{2,}$' } })
      .output(['total', 'big'])
      .build();
    assert.deepEqual(parseSpec(text).spec, built);
    assert.deepEqual(parseSpec(JSON.stringify(built)).spec, built);
  });
});

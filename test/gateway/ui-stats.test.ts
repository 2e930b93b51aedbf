/** The dashboard's quantiles from histogram buckets, and a workflow's DAG edges from its spec. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { edgesOf } from '../../src/gateway/ui-data.ts';
import { quantile } from '../../src/gateway/ui-stats.ts';

describe('quantile from cumulative buckets', () => {
  const cases: [string, number, [number, number][], number | null][] = [
    ['no observations', 0.5, [], null],
    [
      'all buckets empty',
      0.5,
      [
        [0.1, 0],
        [Infinity, 0],
      ],
      null,
    ],
    [
      'inside the first bucket, from 0',
      0.5,
      [
        [1, 10],
        [Infinity, 10],
      ],
      0.5,
    ],
    [
      'interpolated inside the bucket it falls in',
      0.5,
      [
        [1, 4],
        [2, 8],
        [Infinity, 8],
      ],
      1,
    ],
    [
      'p99 near the top of its bucket',
      0.99,
      [
        [1, 0],
        [2, 100],
        [Infinity, 100],
      ],
      1.99,
    ],
    [
      'in the +Inf bucket: the largest finite bound',
      0.99,
      [
        [1, 50],
        [2, 60],
        [Infinity, 100],
      ],
      2,
    ],
  ];
  for (const [name, q, buckets, want] of cases) {
    it(`should answer ${want} for ${name}`, () => {
      const got = quantile(q, buckets);
      if (want === null) assert.equal(got, null);
      else assert.ok(Math.abs(got! - want) < 1e-9, `${got} ≠ ${want}`);
    });
  }
});

describe('edgesOf', () => {
  it('should draw data, list, map and condition edges, and what $output reads', () => {
    const edges = edgesOf({
      name: 'w',
      steps: [
        { id: 'a', function: 'f' },
        { id: 'b', function: 'f', map: 'a' },
        { id: 'c', function: 'f', input: ['a', 'b', 'a'], when: { step: 'a', equals: 'x' } },
      ],
      output: ['b', 'c'],
    });
    assert.deepEqual(
      edges.map((e) => `${e.from}->${e.to}:${e.kind}`),
      ['$input->a:data', 'a->b:data', 'a->c:data', 'b->c:data', 'a->c:condition', 'b->$output:data', 'c->$output:data'],
    );
  });

  it('should read the last step as the output when none is named', () => {
    const edges = edgesOf({
      name: 'w',
      steps: [
        { id: 'a', function: 'f' },
        { id: 'b', function: 'f', input: 'a' },
      ],
    });
    assert.deepEqual(edges.at(-1), { from: 'b', to: '$output', kind: 'data' });
  });
});

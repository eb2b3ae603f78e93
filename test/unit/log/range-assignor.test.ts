import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignRange } from '../../../src/log/embedded/range-assignor.js';

const names = (tps: { topic: string; partition: number }[]) => tps.map((t) => `${t.topic}/${t.partition}`);

describe('assignRange', () => {
  it('gives contiguous ranges, the first members one extra', () => {
    const result = assignRange(
      [
        { memberId: 'b', topics: ['t'] },
        { memberId: 'a', topics: ['t'] },
      ],
      new Map([['t', 5]]),
    );
    expect(names(result.get('a')!)).toEqual(['t/0', 't/1', 't/2']);
    expect(names(result.get('b')!)).toEqual(['t/3', 't/4']);
  });

  it('assigns a topic only among its subscribers and leaves extra members empty', () => {
    const result = assignRange(
      [
        { memberId: 'a', topics: ['x', 'y'] },
        { memberId: 'b', topics: ['y'] },
        { memberId: 'c', topics: ['y'] },
        { memberId: 'd', topics: ['y'] },
      ],
      new Map([
        ['x', 2],
        ['y', 2],
      ]),
    );
    expect(names(result.get('a')!)).toEqual(['x/0', 'x/1', 'y/0']);
    expect(names(result.get('b')!)).toEqual(['y/1']);
    expect(result.get('c')).toEqual([]);
    expect(result.get('d')).toEqual([]);
  });

  it('assigns every partition exactly once, balanced within one per topic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 40 }), (members, partitions) => {
        const subs = Array.from({ length: members }, (_, i) => ({ memberId: `m${i}`, topics: ['t'] }));
        const result = assignRange(subs, new Map([['t', partitions]]));
        const all = [...result.values()].flat().map((t) => t.partition).sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: partitions }, (_, p) => p));
        const sizes = [...result.values()].map((l) => l.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

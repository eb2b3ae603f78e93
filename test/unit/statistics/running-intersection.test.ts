import { describe, expect, it } from 'vitest';
import { displayed, intersect, type IntersectionState } from '../../../src/verdict/statistics/running-intersection.js';
import { level, milliseconds, percent, points } from '../../../src/verdict/statistics/verdict-format.js';

describe('running intersection', () => {
  it('keeps the largest lower and smallest upper end; null is an open end', () => {
    const s: IntersectionState = {};
    expect(intersect(s, 'g', { lower: null, upper: 0.5 })).toEqual({ lower: null, upper: 0.5 });
    expect(intersect(s, 'g', { lower: 0.1, upper: 0.6 })).toEqual({ lower: 0.1, upper: 0.5 });
    expect(intersect(s, 'g', { lower: 0.05, upper: null })).toEqual({ lower: 0.1, upper: 0.5 });
    expect(intersect(s, 'g', { lower: 0.2, upper: 0.4 })).toEqual({ lower: 0.2, upper: 0.4 });
    expect(s.g).toEqual({ lower: 0.2, upper: 0.4 });
  });

  it('shows the current CS when the intersection has become empty', () => {
    expect(displayed({ lower: 0.5, upper: 0.4 }, { lower: 0.3, upper: 0.45 })).toEqual({ lower: 0.3, upper: 0.45 });
    expect(displayed({ lower: 0.1, upper: 0.4 }, { lower: 0.0, upper: 0.45 })).toEqual({ lower: 0.1, upper: 0.4 });
  });
});

describe('reason formats', () => {
  it('writes rates, points, milliseconds and levels like the contract example', () => {
    expect(percent(0.098)).toBe('9.8 %');
    expect(percent(0.15)).toBe('15 %');
    expect(percent(null)).toBe('n/a');
    expect(points(-0.031)).toBe('-3.1 pts');
    expect(milliseconds(652.4)).toBe('652 ms');
    expect(level(0.01)).toBe('99 %');
    expect(level(0.049 / 6)).toBe('99.1 %'); // 99.18 %, rounded down
    expect(level(0.00001)).toBe('99.9 %'); // rounded down, never up to 100 %
    expect(level(0.0245)).toBe('97.5 %');
  });
});

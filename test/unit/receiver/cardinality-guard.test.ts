import { describe, expect, it } from 'vitest';
import { CardinalityGuard } from '../../../src/receiver/mapping/cardinality-guard.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, setTimeout: () => ({ cancel() {} }), advance: (ms: number) => { t += ms; } };
}

describe('CardinalityGuard', () => {
  it('forgets features and variants unseen for idleMs, freeing their slots', () => {
    const c = clock();
    const g = new CardinalityGuard({ maxFeatures: 2, maxCohortsPerFeature: 1, idleMs: 60_000, clock: c, knownFeatures: ['ruled'] });
    expect(g.admit('a', 'x')).toBeUndefined();
    expect(g.admit('b', 'x')).toBeUndefined();
    expect(g.admit('c', 'x')).toBe('feature_overflow');
    expect(g.admit('a', 'y')).toBe('cohort_overflow');
    expect(g.admit('ruled', 'on')).toBeUndefined();
    c.advance(30_000);
    expect(g.admit('b', 'x')).toBeUndefined(); // b stays fresh
    c.advance(40_000);
    expect(g.admit('c', 'x')).toBeUndefined(); // a went idle: its slot is free
    expect(g.admit('ruled', 'off')).toBeUndefined(); // the rules' feature stays, its old variant went
    expect(g.trackedFeatures).toBe(3);
    expect(g.forgotten).toBe(3); // a, its variant x, and ruled's variant on
  });

  it('still caps when nothing is idle', () => {
    const c = clock();
    const g = new CardinalityGuard({ maxFeatures: 1, maxCohortsPerFeature: 5, idleMs: 60_000, clock: c });
    for (let i = 0; i < 10; i++) {
      c.advance(10_000);
      expect(g.admit('f', 'v')).toBeUndefined();
      expect(g.admit(`junk-${i}`, 'v')).toBe('feature_overflow');
    }
  });
});

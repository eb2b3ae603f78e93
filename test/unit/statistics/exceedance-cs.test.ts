import { describe, expect, it } from 'vitest';
import {
  clusteredRatio,
  exceedanceCs,
  kishEffectiveSize,
  type ClusteredCounts,
} from '../../../src/verdict/statistics/exceedance-cs.js';
import { robbinsInterval, thresholdPrior } from '../../../src/verdict/statistics/robbins-cs.js';

/** The aggregator's per-user sums from (requests, slow requests) per user. */
function counts(users: Array<[number, number]>): ClusteredCounts {
  const c = { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0 };
  for (const [n, y] of users) {
    c.users++;
    c.count += n;
    c.slow += y;
    c.sumN2 += n * n;
    c.sumSlow2 += y * y;
    c.sumNSlow += n * y;
  }
  return c;
}

describe('clusteredRatio', () => {
  it('matches the delta-method variance computed from the users directly', () => {
    // Users (10 requests, 1 slow), (5, 0), (20, 3): R = 4/35 and
    // Var = Σ(y − R·x)² / ((m − 1)·m·x̄²) = 0.0010495626822157437 (hand/Python).
    const r = clusteredRatio(counts([[10, 1], [5, 0], [20, 3]]))!;
    expect(r.estimate).toBeCloseTo(4 / 35, 15);
    expect(r.variance).toBeCloseTo(0.0010495626822157437, 15);
  });

  it('has design effect ≈ 1 when every user makes one request', () => {
    const users: Array<[number, number]> = [];
    for (let i = 0; i < 1000; i++) users.push([1, i % 20 === 0 ? 1 : 0]);
    const r = clusteredRatio(counts(users))!;
    expect(r.estimate).toBeCloseTo(0.05, 12);
    expect(r.designEffect).toBeCloseTo(1000 / 999, 9);
  });

  it('has a large design effect when all of a user\'s requests are alike', () => {
    const users: Array<[number, number]> = [];
    for (let i = 0; i < 1000; i++) users.push([10, i % 20 === 0 ? 10 : 0]);
    expect(clusteredRatio(counts(users))!.designEffect).toBeGreaterThan(9.9);
  });

  it('is undefined for fewer than 2 users', () => {
    expect(clusteredRatio(counts([[10, 1]]))).toBeNull();
  });
});

describe('kishEffectiveSize', () => {
  it('is (Σn)²/Σn²: the user count for equal activity, less when one user dominates', () => {
    expect(kishEffectiveSize(counts([[10, 0], [10, 0], [10, 0]]))).toBeCloseTo(3, 12);
    expect(kishEffectiveSize(counts([[100, 0], [1, 0], [1, 0]]))).toBeCloseTo(10_404 / 10_002, 12);
  });
});

describe('exceedanceCs', () => {
  it('is the exact Kish part alone (at α/2) while there are few users', () => {
    const c = counts([[10, 2], [10, 0], [10, 1], [10, 0]]);
    const cs = exceedanceCs(c, 0.02);
    const exact = robbinsInterval((3 / 40) * 4, 4, 0.01, thresholdPrior(0.05, 0.01));
    expect(cs.method).toBe('exact');
    expect(cs.estimate).toBeCloseTo(3 / 40, 15);
    expect(cs.lower).toBeCloseTo(exact.lower, 14);
    expect(cs.upper).toBeCloseTo(exact.upper, 14);
  });

  it('adds the cluster-robust asymptotic part once there are enough users and requests', () => {
    const users: Array<[number, number]> = [];
    for (let i = 0; i < 5000; i++) users.push([10, i % 10 === 0 ? 2 : i % 10 === 1 ? 1 : 0]);
    const cs = exceedanceCs(counts(users), 0.01);
    expect(cs.method).toBe('exact+asymptotic');
    expect(cs.estimate).toBeCloseTo(0.03, 12);
    expect(cs.lower).toBeLessThan(0.03);
    expect(cs.upper).toBeGreaterThan(0.03);
    expect(cs.upper).toBeLessThan(0.05); // 3 % slow over 50 000 requests: P95 is under T
  });

  it('is wider for correlated requests than for independent ones with the same totals', () => {
    const independent: Array<[number, number]> = [];
    const correlated: Array<[number, number]> = [];
    for (let i = 0; i < 2000; i++) {
      independent.push([10, i % 2 === 0 ? 1 : 0]); // 5 % slow, spread over half the users
      correlated.push([10, i % 20 === 0 ? 10 : 0]); // 5 % slow, all from one user in 20
    }
    const a = exceedanceCs(counts(independent), 0.01);
    const b = exceedanceCs(counts(correlated), 0.01);
    expect(b.upper - b.lower).toBeGreaterThan(2 * (a.upper - a.lower));
  });

  it('is [0, 1] without requests', () => {
    expect(exceedanceCs(counts([]), 0.01)).toMatchObject({ lower: 0, upper: 1 });
  });
});

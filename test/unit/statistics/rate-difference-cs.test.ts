import { describe, expect, it } from 'vitest';
import { rateDifferenceCs } from '../../../src/verdict/statistics/asymptotic-cs.js';
import { rateDifferenceGuardCs } from '../../../src/verdict/statistics/rate-difference-cs.js';
import { robbinsInterval, thresholdPrior } from '../../../src/verdict/statistics/robbins-cs.js';
import { Random } from '../../../sim/random.js';

const prior = thresholdPrior(0.3, 0.03);

describe('rateDifferenceGuardCs', () => {
  it('uses only the exact per-arm part (α/4 each) while an arm is small', () => {
    const t = { successes: 20, n: 60 };
    const c = { successes: 25, n: 60 };
    const cs = rateDifferenceGuardCs(t, c, 0.02, prior);
    const rt = robbinsInterval(20, 60, 0.005, prior);
    const rc = robbinsInterval(25, 60, 0.005, prior);
    expect(cs.method).toBe('exact');
    expect(cs.lower).toBeCloseTo(rt.lower - rc.upper, 14);
    expect(cs.upper).toBeCloseTo(rt.upper - rc.lower, 14);
    expect(cs.estimate).toBeCloseTo(20 / 60 - 25 / 60, 14);
  });

  it('intersects with the asymptotic CS at α/2 once both arms are large', () => {
    const t = { successes: 2500, n: 10_000 };
    const c = { successes: 3000, n: 10_000 };
    const cs = rateDifferenceGuardCs(t, c, 0.02, prior);
    const asymptotic = rateDifferenceCs(t, c, 0.01);
    expect(cs.method).toBe('exact+asymptotic');
    expect(cs.lower).toBeGreaterThanOrEqual(asymptotic.lower - 1e-15);
    expect(cs.upper).toBeLessThanOrEqual(asymptotic.upper + 1e-15);
    expect(cs.upper).toBeLessThan(0); // a 5 pt drop on 10 000 per arm is certain
  });

  it('covers Δ at every look in ≥ 1 − α of seeded A/A streams', () => {
    const runs = 300;
    const alpha = 0.1;
    let misses = 0;
    for (let r = 0; r < runs; r++) {
      const random = new Random(7_000 + r);
      let sT = 0;
      let sC = 0;
      let n = 0;
      for (let look = 0; look < 100; look++) {
        sT += random.binomial(50, 0.3);
        sC += random.binomial(50, 0.3);
        n += 50;
        const cs = rateDifferenceGuardCs({ successes: sT, n }, { successes: sC, n }, alpha, prior);
        if (cs.lower > 0 || cs.upper < 0) {
          misses++;
          break;
        }
      }
    }
    expect(misses / runs).toBeLessThanOrEqual(alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs));
  });
});

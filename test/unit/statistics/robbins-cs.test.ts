import { describe, expect, it } from 'vitest';
import {
  failsBelow,
  passesAbove,
  robbinsCountBounds,
  robbinsExcludes,
  robbinsInterval,
  robbinsLogMixture,
  thresholdPrior,
} from '../../../src/verdict/statistics/robbins-cs.js';
import { Random } from '../../../sim/random.js';

const uniform = { a: 1, b: 1 };

describe('robbinsLogMixture', () => {
  it('with a uniform prior and 0 of 10 at p0 = ½ is ln(2¹⁰/11)', () => {
    // ∫ (1−q)^10 dq = 1/11 against (½)^10.
    expect(robbinsLogMixture(0, 10, 0.5, uniform)).toBeCloseTo(10 * Math.LN2 - Math.log(11), 12);
  });

  it('matches ln B(151, 851) − 150 ln .2 − 850 ln .8 for 150 of 1000 at p0 = .2', () => {
    expect(robbinsLogMixture(150, 1000, 0.2, uniform)).toBeCloseTo(4.813429873004907, 9);
  });

  it('is at most 0 at the observed rate (the CS always contains p̂)', () => {
    const prior = thresholdPrior(0.3, 0.03);
    for (const [s, n] of [[1, 7], [30, 100], [2999, 10_000], [0, 50]]) {
      expect(robbinsLogMixture(s, n, Math.min(Math.max(s / n, 1e-12), 1 - 1e-12), prior)).toBeLessThanOrEqual(1e-9);
    }
  });
});

describe('thresholdPrior', () => {
  it('is Beta(cθ, c(1−θ)) with prior SD equal to the smallest effect', () => {
    const p = thresholdPrior(0.4, 0.03);
    const c = p.a + p.b;
    expect(c).toBeCloseTo(0.24 / 0.0009 - 1, 9);
    expect(p.a / c).toBeCloseTo(0.4, 12);
    expect(Math.sqrt((0.4 * 0.6) / (c + 1))).toBeCloseTo(0.03, 12);
  });

  it('stays proper at thresholds of 0 and 1', () => {
    for (const theta of [0, 1]) {
      const p = thresholdPrior(theta, 0.03);
      expect(p.a).toBeGreaterThan(0);
      expect(p.b).toBeGreaterThan(0);
    }
  });
});

describe('robbinsInterval', () => {
  it('has the closed form [0, 1 − 220^(−1/10)] for 0 of 10, uniform prior, α = .05', () => {
    // (1−p)^10 · 11 < 20 ⇔ p < 1 − 220^(−1/10).
    const cs = robbinsInterval(0, 10, 0.05, uniform);
    expect(cs.lower).toBe(0);
    expect(cs.upper).toBeCloseTo(0.41688027565653607, 10);
    expect(cs.upper).toBeGreaterThanOrEqual(0.41688027565653607 - 1e-15);
  });

  it('mirrors for 10 of 10', () => {
    const cs = robbinsInterval(10, 10, 0.05, uniform);
    expect(cs.lower).toBeCloseTo(0.5831197243434639, 10);
    expect(cs.upper).toBe(1);
  });

  it('puts its ends where ln M = ln(1/α), never inside', () => {
    const prior = thresholdPrior(0.15, 0.03);
    const cs = robbinsInterval(98, 1000, 0.01, prior);
    expect(cs.lower).toBeLessThan(0.098);
    expect(cs.upper).toBeGreaterThan(0.098);
    expect(robbinsLogMixture(98, 1000, cs.lower, prior)).toBeCloseTo(Math.log(100), 8);
    expect(robbinsLogMixture(98, 1000, cs.upper, prior)).toBeCloseTo(Math.log(100), 8);
    expect(robbinsLogMixture(98, 1000, cs.lower, prior)).toBeGreaterThanOrEqual(Math.log(100) - 1e-12);
    expect(robbinsLogMixture(98, 1000, cs.upper, prior)).toBeGreaterThanOrEqual(Math.log(100) - 1e-12);
  });

  it('is [0, 1] without data and narrows as n grows', () => {
    expect(robbinsInterval(0, 0, 0.05, uniform)).toEqual({ lower: 0, upper: 1 });
    const widths = [100, 1000, 10_000, 100_000].map((n) => {
      const cs = robbinsInterval(0.3 * n, n, 0.05, thresholdPrior(0.3, 0.03));
      return cs.upper - cs.lower;
    });
    for (let i = 1; i < widths.length; i++) expect(widths[i]).toBeLessThan(widths[i - 1]);
  });

  it('covers the true rate at every n simultaneously in ≥ 1 − α of seeded streams', () => {
    const runs = 300;
    const alpha = 0.1;
    const prior = thresholdPrior(0.3, 0.03);
    let misses = 0;
    for (let r = 0; r < runs; r++) {
      const random = new Random(1000 + r);
      let s = 0;
      for (let n = 1; n <= 2000; n++) {
        if (random.uniform() < 0.3) s++;
        if (n % 5 !== 0) continue;
        const cs = robbinsInterval(s, n, alpha, prior);
        if (cs.lower > 0.3 || cs.upper < 0.3) {
          misses++;
          break;
        }
      }
    }
    expect(misses / runs).toBeLessThanOrEqual(alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs));
  });
});

describe('failsBelow / passesAbove', () => {
  const prior = thresholdPrior(0.4, 0.03);
  // ln M_100(.4) for 30 successes under this prior is 0.42756 (Python lgamma), so the CS
  // excludes .4 exactly when ln(1/α) ≤ 0.42756, i.e. α ≥ 0.652.
  it('fails below exactly when ln M(θ) ≥ ln(1/α) and p̂ < θ', () => {
    expect(robbinsLogMixture(30, 100, 0.4, prior)).toBeCloseTo(0.4275554287136316, 9);
    expect(failsBelow(30, 100, 0.4, 0.66, prior)).toBe(true);
    expect(failsBelow(30, 100, 0.4, 0.64, prior)).toBe(false);
    expect(passesAbove(30, 100, 0.4, 0.66, prior)).toBe(false);
  });

  it('passes above when the whole CS is above θ', () => {
    expect(passesAbove(5000, 10_000, 0.4, 0.01, prior)).toBe(true);
    expect(failsBelow(5000, 10_000, 0.4, 0.01, prior)).toBe(false);
    expect(robbinsExcludes(4000, 10_000, 0.4, 0.01, prior)).toBeNull();
    expect(robbinsExcludes(0, 0, 0.4, 0.01, prior)).toBeNull();
  });
});

describe('robbinsCountBounds', () => {
  it('brackets n·p and its ends sit on the boundary', () => {
    const prior = thresholdPrior(0.95, 0.01);
    const b = robbinsCountBounds(10_000, 0.95, 0.01, prior);
    expect(b.low).not.toBeNull();
    expect(b.high).not.toBeNull();
    expect(b.low!).toBeLessThan(9500);
    expect(b.high!).toBeGreaterThan(9500);
    // ln M at the count ends equals ln(1/α) (the mixture read as a function of the count).
    expect(robbinsLogMixture(b.low!, 10_000, 0.95, prior)).toBeCloseTo(Math.log(100), 2);
    expect(robbinsLogMixture(b.high!, 10_000, 0.95, prior)).toBeCloseTo(Math.log(100), 2);
  });

  it('has no ends while every count is plausible', () => {
    expect(robbinsCountBounds(3, 0.95, 0.01, thresholdPrior(0.95, 0.01))).toEqual({ low: null, high: null });
    expect(robbinsCountBounds(0, 0.95, 0.01, thresholdPrior(0.95, 0.01))).toEqual({ low: null, high: null });
  });
});

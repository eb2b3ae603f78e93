// The product-limit test of the activation guardrail: the normal tail and the mixture statistic
// against numerical integration, the estimate against the product-limit formula, and the
// bookkeeping of steps (an arm without new users waits, a count that goes backwards re-bases).

import { describe, expect, it } from 'vitest';
import {
  halfNormalMixtureLogE, logNormalCdf, MIN_LATE_USERS, newProductLimitState, stepProductLimit, type ProductLimitCounts,
} from '../../../src/verdict/statistics/product-limit.js';

/** ∫ f over [a, b] by Simpson's rule. */
function integrate(f: (x: number) => number, a: number, b: number, n = 20_000): number {
  const h = (b - a) / n;
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

describe('product-limit statistics', () => {
  it('ln Φ matches the integral of the normal density, deep in the lower tail too', () => {
    for (const x of [-12, -8.5, -3, -1, 0, 0.5, 2, 5]) {
      const exact = Math.log(integrate(phi, x - 30, x, 200_000));
      // Abramowitz & Stegun 26.2.17 errs by < 7.5e-8 absolute: a fraction of a percent of Φ in the tail, nats ≪ 0.01.
      expect(Math.abs(logNormalCdf(x) - exact)).toBeLessThan(x < -8 ? 0.02 : x < 0 ? 1e-3 : 1e-6);
    }
    expect(Number.isFinite(logNormalCdf(-1e4))).toBe(true);
  });

  it('the one-sided mixture equals its defining integral over the drift', () => {
    const rho = 0.03;
    for (const [score, information] of [[40, 2000], [-30, 2000], [250, 6000], [0, 10_000]]) {
      const integrand = (l: number) => Math.exp(l * score - (l * l * information) / 2) * (2 / rho) * phi(l / rho);
      const exact = Math.log(integrate(integrand, 0, 20 * rho));
      expect(halfNormalMixtureLogE(score, information, rho)).toBeCloseTo(exact, 5);
    }
  });

  it('one step estimates each arm by p(a) + (1 − p(a))·h and the difference by the same', () => {
    const t: ProductLimitCounts = { reached: 4000, early: 800, matured: 1000, successes: 250, maturedEarly: 200 };
    const c: ProductLimitCounts = { reached: 4000, early: 1000, matured: 1000, successes: 300, maturedEarly: 250 };
    const out = stepProductLimit(newProductLimitState(), t, c, 0)!;
    const expected = (x: ProductLimitCounts) => x.early / x.reached + (1 - x.early / x.reached) * ((x.successes - x.maturedEarly) / (x.matured - x.maturedEarly));
    expect(out.treatment.rate).toBeCloseTo(expected(t), 12);
    expect(out.control.rate).toBeCloseTo(expected(c), 12);
    // One stratum with equal arms: the bilinear decomposition at the midpoints is exact, up to the
    // half-user pull of the midpoints used as weights.
    expect(out.difference.rate).toBeCloseTo(expected(t) - expected(c), 4);
    expect(out.logValue).toBeGreaterThan(Math.log(100));
  });

  it('says nothing before either arm has MIN_LATE_USERS late users', () => {
    const late = MIN_LATE_USERS - 1;
    const t: ProductLimitCounts = { reached: 5000, early: 500, matured: late + 10, successes: 10, maturedEarly: 10 };
    const c: ProductLimitCounts = { reached: 5000, early: 1500, matured: 5000, successes: 1500, maturedEarly: 1000 };
    expect(stepProductLimit(newProductLimitState(), t, c, 0)).toBeNull();
  });

  it('keeps an arm\'s new users for the step in which the other arm has new users too, and re-bases after a reset', () => {
    const state = newProductLimitState();
    const base: ProductLimitCounts = { reached: 1000, early: 200, matured: 400, successes: 100, maturedEarly: 80 };
    stepProductLimit(state, base, base, 0);
    const used = [...state.used];
    const ahead: ProductLimitCounts = { reached: 1500, early: 300, matured: 600, successes: 150, maturedEarly: 120 };
    stepProductLimit(state, ahead, base, 0);
    expect(state.used).toEqual(used); // the control had nothing new: the treatment's users wait
    stepProductLimit(state, ahead, ahead, 0);
    expect(state.used).toEqual([1500, 300, 480, 30, 1500, 300, 480, 30]);
    const sums = [...state.sums];
    const reset: ProductLimitCounts = { reached: 10, early: 1, matured: 0, successes: 0, maturedEarly: 0 };
    stepProductLimit(state, reset, ahead, 0);
    expect(state.sums).toEqual(sums);
    expect(state.used.slice(0, 4)).toEqual([10, 1, 0, 0]);
  });
});

import { describe, expect, it } from 'vitest';
import { digamma, lnBeta, lnGamma } from '../../../src/verdict/statistics/ln-gamma.js';

describe('lnGamma', () => {
  it('matches hand-checked values', () => {
    expect(lnGamma(1)).toBeCloseTo(0, 14);
    expect(lnGamma(2)).toBeCloseTo(0, 14);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13); // Γ(½) = √π
    expect(lnGamma(10)).toBeCloseTo(Math.log(362_880), 12); // 9!
    expect(lnGamma(100)).toBeCloseTo(359.1342053695754, 10);
    expect(lnGamma(0.1)).toBeCloseTo(2.2527126517342055, 12);
  });

  it('stays accurate for the large arguments SRM and Robbins use', () => {
    expect(Math.abs(lnGamma(1e6 + 0.5) - 12815511.476902764) / 12815511.476902764).toBeLessThan(1e-13);
  });

  it('satisfies Γ(x + 1) = x·Γ(x)', () => {
    for (const x of [0.01, 0.3, 1.7, 6.5, 42.25, 1234.5]) {
      expect(lnGamma(x + 1) - lnGamma(x)).toBeCloseTo(Math.log(x), 10);
    }
  });

  it('refuses non-positive arguments', () => {
    expect(() => lnGamma(0)).toThrow(/x > 0/);
    expect(() => lnGamma(-1)).toThrow(/x > 0/);
  });
});

describe('lnBeta and digamma', () => {
  it('lnBeta(2, 3) = ln(1/12)', () => {
    expect(lnBeta(2, 3)).toBeCloseTo(-Math.log(12), 13);
  });

  it('digamma matches ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ψ(10)', () => {
    const gamma = 0.5772156649015329;
    expect(digamma(1)).toBeCloseTo(-gamma, 12);
    expect(digamma(0.5)).toBeCloseTo(-gamma - 2 * Math.LN2, 12);
    expect(digamma(10)).toBeCloseTo(2.251752589066721, 12);
  });
});

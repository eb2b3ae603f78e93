import { describe, expect, it } from 'vitest';
import {
  halfWidthMultiplier,
  meanCs,
  oneSampleRateCs,
  rateDifferenceCs,
  tuningRho,
} from '../../../src/verdict/statistics/asymptotic-cs.js';

// Reference values computed with Eppo's form B(t) = t^(-½)·√((t+ρ)·ln((t+ρ)/(ρα²))),
// ρ = N*/(−2 ln α + ln(1 − 2 ln α)), which is GrowthBook's formula written differently:
// W(n) = B(n)/√n.
describe('GrowthBook/Eppo asymptotic CS', () => {
  it('ρ² = (−2 ln α + ln(1 − 2 ln α)) / N*', () => {
    expect(tuningRho(0.05, 10_000) ** 2).toBeCloseTo((5.991464547107979 + Math.log(6.991464547107979)) / 10_000, 15);
  });

  it('W(n) matches the Eppo form at n = N* and n = N*/4', () => {
    expect(halfWidthMultiplier(10_000, 0.05, 10_000)).toBeCloseTo(0.030352089903762525, 12);
    expect(halfWidthMultiplier(2_500, 0.05, 10_000)).toBeCloseTo(0.06528586743652812, 12);
    expect(halfWidthMultiplier(0, 0.05)).toBe(Number.POSITIVE_INFINITY);
  });

  it('is wider than the fixed-n 95 % interval (the price of looking at every n)', () => {
    expect(halfWidthMultiplier(10_000, 0.05, 10_000) * Math.sqrt(10_000)).toBeGreaterThan(1.96);
  });

  it('one-sample rate: p̂ ± √(p̂(1−p̂))·W(n)', () => {
    const cs = oneSampleRateCs(3000, 10_000, 0.05, 10_000);
    expect(cs.lower).toBeCloseTo(0.28609092505159034, 12);
    expect(cs.upper).toBeCloseTo(0.31390907494840964, 12);
    expect(oneSampleRateCs(0, 0, 0.05)).toEqual({ lower: 0, upper: 1 });
  });

  it('difference of rates: Δ̂ ± SE·√(n_T+n_C)·W(n_T+n_C)', () => {
    const cs = rateDifferenceCs({ successes: 2500, n: 10_000 }, { successes: 3000, n: 10_000 }, 0.05, 10_000);
    expect(cs.estimate).toBeCloseTo(-0.05, 15);
    expect(cs.se).toBeCloseTo(0.0063047601064592455, 14);
    expect(cs.lower).toBeCloseTo(-0.06930187943634909, 12);
    expect(cs.upper).toBeCloseTo(-0.030698120563650916, 12);
  });

  it('meanCs scales with the unit standard deviation', () => {
    const a = meanCs(1, 2, 400, 0.01);
    const b = meanCs(1, 4, 400, 0.01);
    expect(b.upper - 1).toBeCloseTo(2 * (a.upper - 1), 12);
    expect(1 - a.lower).toBeCloseTo(a.upper - 1, 12);
  });
});

import { describe, expect, it } from 'vitest';
import { checkSrm, srmLogBayesFactor } from '../../../src/verdict/statistics/srm.js';
import { Random } from '../../../sim/random.js';

describe('sequential SRM (Dirichlet-multinomial Bayes factor)', () => {
  it('matches the formula for 60/40 against 50/50 with c = 10', () => {
    // lnΓ(10) − lnΓ(110) + lnΓ(65) − lnΓ(5) + lnΓ(45) − lnΓ(5) − 100 ln ½ (Python lgamma).
    expect(srmLogBayesFactor([60, 40], [0.5, 0.5], 10)).toBeCloseTo(0.623612346233358, 9);
  });

  it('finds 10 500 / 9 500 a mismatch at c = 10 000, α = .001', () => {
    expect(srmLogBayesFactor([10_500, 9_500], [1, 1])).toBeCloseTo(16.120987524795055, 6);
    const check = checkSrm([10_500, 9_500], [1, 1], null);
    expect(check.mismatch).toBe(true);
    expect(check.pValue).toBeCloseTo(Math.exp(-16.120987524795055), 12);
  });

  it('keeps the running minimum p-value (it never rises)', () => {
    const balanced = checkSrm([10_000, 10_010], [1, 1], 0.02);
    expect(balanced.bf).toBeLessThan(1);
    expect(balanced.pValue).toBe(0.02);
    expect(balanced.mismatch).toBe(false);
  });

  it('honours unequal expected shares', () => {
    expect(checkSrm([1_000, 9_000], [0.1, 0.9], null).mismatch).toBe(false);
    expect(checkSrm([1_000, 9_000], [1, 1], null).mismatch).toBe(true);
  });

  it('raises no false alarm when checked every hour for two weeks on a fair 50/50 split', () => {
    let alarms = 0;
    const runs = 200;
    for (let r = 0; r < runs; r++) {
      const random = new Random(500 + r);
      let a = 0;
      let b = 0;
      let p: number | null = null;
      for (let h = 0; h < 336; h++) {
        const x = random.binomial(400, 0.5);
        a += x;
        b += 400 - x;
        const check = checkSrm([a, b], [1, 1], p);
        p = check.pValue;
        if (check.mismatch) {
          alarms++;
          break;
        }
      }
    }
    expect(alarms / runs).toBeLessThanOrEqual(0.001 + 3 * Math.sqrt(0.001 / runs));
  });

  it('refuses mismatched inputs', () => {
    expect(() => srmLogBayesFactor([1], [1])).toThrow(/at least 2/);
    expect(() => srmLogBayesFactor([1, 2], [1, 0])).toThrow(/positive shares/);
  });
});

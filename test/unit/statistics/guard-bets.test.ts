import { describe, expect, it } from 'vitest';
import {
  BETS, largestUser, latencyThresholdBets, latencyVsControlBets, rateThresholdBets, rateVsControlBets, type LatencyStep,
} from '../../../src/verdict/statistics/guard-bets.js';
import { lnGamma } from '../../../src/verdict/statistics/ln-gamma.js';

function binomialPmf(n: number, p: number): number[] {
  return Array.from({ length: n + 1 }, (_, k) =>
    Math.exp(lnGamma(n + 1) - lnGamma(k + 1) - lnGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log(1 - p)));
}

const out = new Float64Array(BETS);

describe('rate threshold bets (Bernoulli likelihood ratios)', () => {
  it('have expectation exactly 1 at p = θ and below 1 for p > θ', () => {
    for (const [p, expected] of [[0.3, 'one'], [0.34, 'below']] as const) {
      const mean = new Array<number>(BETS).fill(0);
      binomialPmf(40, p).forEach((prob, s) => {
        rateThresholdBets({ n: 40, successes: s }, 0.3, out);
        for (let k = 0; k < BETS; k++) mean[k] += prob * Math.exp(out[k]);
      });
      for (const m of mean) {
        if (expected === 'one') expect(m).toBeCloseTo(1, 10);
        else expect(m).toBeLessThan(1);
      }
    }
  });

  it('bet nothing on no data or a zero threshold', () => {
    rateThresholdBets({ n: 0, successes: 0 }, 0.3, out);
    expect([...out]).toEqual(new Array(BETS).fill(0));
    rateThresholdBets({ n: 10, successes: 0 }, 0, out);
    expect([...out]).toEqual(new Array(BETS).fill(0));
  });
});

describe('rate vs control bets (allocation-weighted Fan bets)', () => {
  /** E[e_k] over both arms' binomials. */
  function expectation(nT: number, nC: number, pT: number, pC: number, centre: number, drop: number): number[] {
    const mean = new Array<number>(BETS).fill(0);
    const fT = binomialPmf(nT, pT);
    const fC = binomialPmf(nC, pC);
    fT.forEach((a, sT) => fC.forEach((b, sC) => {
      rateVsControlBets({ n: nT, successes: sT }, { n: nC, successes: sC }, centre, drop, out);
      for (let k = 0; k < BETS; k++) mean[k] += a * b * Math.exp(out[k]);
    }));
    return mean;
  }

  it('are e-values on the null boundary p_T = p_C − δ, for any allocation and any centre', () => {
    for (const [nT, nC] of [[12, 12], [4, 20], [20, 3]]) {
      for (const centre of [0.1, 0.3, 0.7]) {
        for (const m of expectation(nT, nC, 0.28, 0.3, centre, 0.02)) expect(m).toBeLessThanOrEqual(1 + 1e-12);
      }
    }
  });

  it('grow when the treatment is worse than allowed', () => {
    rateVsControlBets({ n: 2000, successes: 500 }, { n: 2000, successes: 600 }, 0.275, 0, out);
    expect(Math.max(...out)).toBeGreaterThan(5);
  });
});

describe('latency threshold bets (per-user Fan bets on the exceedance)', () => {
  it('largestUser bounds the heaviest user from Σn and Σn² (Samuelson)', () => {
    const even: LatencyStep = { count: 2000, slow: 0, users: 200, sumN2: 200 * 100, sumSlow2: 0, sumNSlow: 0 };
    expect(largestUser(even)).toBeCloseTo(10, 9);
    const heavy: LatencyStep = { count: 199 * 10 + 300, slow: 0, users: 200, sumN2: 199 * 100 + 300 * 300, sumSlow2: 0, sumNSlow: 0 };
    expect(largestUser(heavy)).toBeGreaterThanOrEqual(300);
  });

  it('are e-values when every user is slow at most 5 % of the time in expectation, heavy users included', () => {
    // Two users with 3 and 40 requests, each request slow with probability 5 %.
    const sizes = [3, 40];
    const pmfs = sizes.map((n) => binomialPmf(n, 0.05));
    const mean = new Array<number>(BETS).fill(0);
    pmfs[0].forEach((a, y0) => pmfs[1].forEach((b, y1) => {
      const step: LatencyStep = {
        count: 43, slow: y0 + y1, users: 2, sumN2: 9 + 1600, sumSlow2: y0 * y0 + y1 * y1, sumNSlow: 3 * y0 + 40 * y1,
      };
      latencyThresholdBets(step, 0.05, out);
      for (let k = 0; k < BETS; k++) mean[k] += a * b * Math.exp(out[k]);
    }));
    for (const m of mean) expect(m).toBeLessThanOrEqual(1 + 1e-12);
  });

  it('grow fast on a +450 ms-like exceedance (7 % slow)', () => {
    const step: LatencyStep = { count: 2000, slow: 140, users: 200, sumN2: 20_000, sumSlow2: 200 * (0.7 + 0.49 * 1.45), sumNSlow: 1400 };
    latencyThresholdBets(step, 0.05, out);
    expect(Math.max(...out)).toBeGreaterThan(2);
  });
});

describe('latency vs control bets', () => {
  const arm = (count: number, users: number): LatencyStep => ({ count, slow: 0, users, sumN2: (count * count) / users, sumSlow2: 0, sumNSlow: 0 });

  it('bet against the treatment only when its share above the cut exceeds the control’s', () => {
    latencyVsControlBets({ step: arm(2000, 200), above: 100, designEffect: 1.45 }, { step: arm(2000, 200), above: 100, designEffect: 1.45 }, 0.05, out);
    expect(Math.max(...out)).toBeLessThanOrEqual(0);
    latencyVsControlBets({ step: arm(2000, 200), above: 200, designEffect: 1.45 }, { step: arm(2000, 200), above: 100, designEffect: 1.45 }, 0.05, out);
    expect(Math.max(...out)).toBeGreaterThan(1);
  });

  it('bet nothing without requests in both arms', () => {
    latencyVsControlBets({ step: arm(2000, 200), above: 300, designEffect: 1 }, { step: { ...arm(1, 1), count: 0 }, above: 0, designEffect: 1 }, 0.05, out);
    expect([...out]).toEqual(new Array(BETS).fill(0));
  });
});

import { describe, expect, it } from 'vitest';
import { EXPOSURE_WEIGHT, LOG_ZERO, newDetector, runSums, updateDetector } from '../../../src/verdict/statistics/e-detector.js';
import { rateThresholdBets } from '../../../src/verdict/statistics/guard-bets.js';
import { Random } from '../../../sim/random.js';

describe('mixture Shiryaev–Roberts e-detector', () => {
  it('equals the brute-force mixture over starts and bets', () => {
    const d = newDetector(2, 1);
    const logE = [[0.3, -0.2], [-0.1, 0.5], [0.4, 0.1], [0.2, -0.3]];
    const weights = [0, 0.01, 0.02, 0.005];
    let reading = { logValue: 0, leading: 0 };
    logE.forEach((e, t) => {
      reading = updateDetector(d, { logE: e, startWeight: weights[t], stepStart: t, counts: [1] });
    });
    // D = (1/K) Σ_k [w₀ Π_{s} e_k,s + Σ_{j≥1} w_j Π_{s≥j} e_k,s]
    let brute = 0;
    for (let k = 0; k < 2; k++) {
      let all = EXPOSURE_WEIGHT;
      for (const e of logE) all *= Math.exp(e[k]);
      brute += all;
      for (let j = 1; j < logE.length; j++) {
        let p = weights[j];
        for (let s = j; s < logE.length; s++) p *= Math.exp(logE[s][k]);
        brute += p;
      }
    }
    expect(Math.exp(reading.logValue)).toBeCloseTo(brute / 2, 12);
  });

  it('stays JSON-safe: no -Infinity while no later start has weight', () => {
    const d = newDetector(3, 2);
    updateDetector(d, { logE: [0, 0, 0], startWeight: 0, stepStart: 0, counts: [0, 0] });
    expect(d.a).toEqual([LOG_ZERO, LOG_ZERO, LOG_ZERO]);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('estimates the onset: the CUSUM run of the leading bet starts where the data turned bad', () => {
    const random = new Random(11);
    const d = newDetector(8, 2);
    const logE = new Float64Array(8);
    let reading = { logValue: 0, leading: 0 };
    for (let step = 0; step < 60; step++) {
      const p = step < 40 ? 0.3 : 0.22; // healthy at the threshold 0.3, then 8 pts below
      const successes = random.binomial(200, p);
      rateThresholdBets({ n: 200, successes }, 0.3, logE);
      reading = updateDetector(d, { logE, startWeight: 0.5 / 336, stepStart: step, counts: [200, successes] });
    }
    expect(reading.logValue).toBeGreaterThan(Math.log(1 / 0.01));
    const since = d.since[reading.leading];
    expect(since).toBeGreaterThanOrEqual(37);
    expect(since).toBeLessThanOrEqual(41);
    const [n, hits] = runSums(d, reading.leading);
    expect(hits / n).toBeLessThan(0.26);
  });

  it('keeps the false-alarm rate at or below α on the null boundary, checked at every step (Ville)', () => {
    const random = new Random(3);
    const alpha = 0.05;
    const logE = new Float64Array(8);
    let alarms = 0;
    const paths = 400;
    for (let path = 0; path < paths; path++) {
      const d = newDetector(8, 2);
      for (let step = 0; step < 150; step++) {
        rateThresholdBets({ n: 50, successes: random.binomial(50, 0.3) }, 0.3, logE);
        const r = updateDetector(d, { logE, startWeight: 0.5 / 150, stepStart: step, counts: [0, 0] });
        if (r.logValue >= Math.log(1 / alpha)) {
          alarms++;
          break;
        }
      }
    }
    // Ville bounds it by α; the binomial noise of 400 paths is well inside the slack.
    expect(alarms / paths).toBeLessThanOrEqual(alpha);
  });
});

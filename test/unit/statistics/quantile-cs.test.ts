import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import { quantileCs, quantileRanks } from '../../../src/verdict/statistics/quantile-cs.js';
import { Random } from '../../../sim/random.js';

describe('quantileRanks', () => {
  it('brackets the nearest rank ⌈pN⌉ and narrows (relatively) as N grows', () => {
    let previous = Number.POSITIVE_INFINITY;
    for (const n of [2_000, 20_000, 200_000]) {
      const { kLow, kHigh } = quantileRanks(n, 0.95, 0.01);
      expect(kLow).not.toBeNull();
      expect(kHigh).not.toBeNull();
      expect(kLow!).toBeLessThanOrEqual(Math.ceil(0.95 * n));
      expect(kHigh!).toBeGreaterThanOrEqual(Math.ceil(0.95 * n));
      const relative = (kHigh! - kLow!) / n;
      expect(relative).toBeLessThan(previous);
      previous = relative;
    }
  });

  it('has no upper rank while the top of the sample is still plausible', () => {
    const twenty = quantileRanks(20, 0.95, 0.01);
    expect(twenty.kHigh).toBeNull();
    expect(twenty.kLow!).toBeLessThanOrEqual(5); // only "at least a few of 20 are below P95" is known
    expect(quantileRanks(0, 0.95, 0.01)).toEqual({ kLow: null, kHigh: null });
  });

  it('widens with the design effect', () => {
    const plain = quantileRanks(50_000, 0.95, 0.01);
    const clustered = quantileRanks(50_000, 0.95, 0.01, 4);
    expect(clustered.kLow!).toBeLessThan(plain.kLow!);
    expect(clustered.kHigh!).toBeGreaterThan(plain.kHigh!);
  });

  it('covers the true P95 at every look in ≥ 1 − α of seeded streams', () => {
    // x₍k₎ ≤ x_.95 ⇔ #{x ≤ x_.95} ≥ k, so counting values ≤ .95 of U(0,1) data is enough.
    const runs = 300;
    const alpha = 0.1;
    let misses = 0;
    for (let r = 0; r < runs; r++) {
      const random = new Random(31_000 + r);
      let below = 0;
      for (let n = 1; n <= 5000; n++) {
        if (random.uniform() <= 0.95) below++;
        if (n % 10 !== 0) continue;
        const { kLow, kHigh } = quantileRanks(n, 0.95, alpha);
        if ((kLow !== null && below < kLow) || (kHigh !== null && below >= kHigh)) {
          misses++;
          break;
        }
      }
    }
    expect(misses / runs).toBeLessThanOrEqual(alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs));
  });
});

describe('quantileCs', () => {
  it('reads the CS ranks from the histogram: x₍k_lo₎ ≤ P95 ≤ x₍k_hi₎', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const source = { count: h.count, valueAtPercentile: (p: number) => h.valueAtPercentile(p) };
    const { kLow, kHigh } = quantileRanks(10_000, 0.95, 0.01);
    const cs = quantileCs(source, 0.95, 0.01);
    // Values 1..10 000 once each: x₍k₎ = k, reported as the top of its HDR bucket.
    expect(cs.lower).toBe(h.highestEquivalentValue(kLow!));
    expect(cs.upper).toBe(h.highestEquivalentValue(kHigh!));
    expect(cs.lower!).toBeLessThanOrEqual(h.valueAtPercentile(95));
    expect(cs.upper!).toBeGreaterThanOrEqual(h.valueAtPercentile(95));
  });

  it('has open ends without enough data', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10; v++) h.record(v * 100);
    expect(quantileCs({ count: h.count, valueAtPercentile: (p) => h.valueAtPercentile(p) }, 0.95, 0.01)).toEqual({
      lower: null,
      upper: null,
    });
  });
});

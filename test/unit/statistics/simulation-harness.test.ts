// The simulation's own machinery must be right for its figures to mean anything.
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import { BucketedLatencies } from '../../../sim/bucketed-latencies.js';
import { ArmModel, bindLayout, SimulatedCohort } from '../../../sim/cohort-generator.js';
import { normalCdf, normalQuantile, Random } from '../../../sim/random.js';
import { nullBoundary } from '../../../sim/scenarios.js';

describe('Random', () => {
  it('is reproducible per seed', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const xs = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.uint32())).not.toEqual(xs);
  });

  it('draws binomials with the right mean and variance', () => {
    const r = new Random(1);
    for (const [n, p] of [[10, 0.05], [400, 0.5], [2000, 0.3], [200, 0.97]] as const) {
      const draws = Array.from({ length: 20_000 }, () => r.binomial(n, p));
      const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
      const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / (draws.length - 1);
      const sd = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(mean - n * p)).toBeLessThan((4 * sd) / Math.sqrt(draws.length));
      expect(variance / (n * p * (1 - p))).toBeGreaterThan(0.95);
      expect(variance / (n * p * (1 - p))).toBeLessThan(1.05);
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThanOrEqual(n);
    }
  });

  it('multinomial counts add up to n', () => {
    const r = new Random(2);
    const out = new Int32Array(4);
    r.multinomial(1000, [1, 2, 3, 4], out);
    expect(out.reduce((s, x) => s + x, 0)).toBe(1000);
  });

  it('normal quantile and CDF invert each other', () => {
    for (const u of [0.001, 0.05, 0.5, 0.95, 0.999]) expect(normalCdf(normalQuantile(u))).toBeCloseTo(u, 6);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 8);
  });
});

describe('simulated latencies', () => {
  it('answer valueAtPercentile exactly like LatencyHistogram on the same values', () => {
    const threshold = nullBoundary.rule.latencyP95Threshold;
    const model = new ArmModel(nullBoundary.treatment, threshold, nullBoundary.shape);
    const layout = bindLayout([model]);
    const fast = new BucketedLatencies(layout);
    const reference = new LatencyHistogram();
    const values = [...model.latency.values()];
    const r = new Random(9);
    for (let i = 0; i < 20_000; i++) {
      const v = values[r.uint32() % values.length];
      fast.add(layout.ordinal(v), 1);
      reference.record(v);
    }
    const at = fast.percentiles();
    for (const p of [0, 0.1, 50, 90, 93.7, 95, 95.5, 99, 99.99, 100]) expect(at(p)).toBe(reference.valueAtPercentile(p));
  });

  it('put exactly the modelled share of requests above the threshold', () => {
    const threshold = nullBoundary.rule.latencyP95Threshold;
    const model = new ArmModel(nullBoundary.treatment, threshold, nullBoundary.shape);
    expect(model.latency.exceedance).toBeCloseTo(0.05, 6); // P95 = T on the null boundary
    const layout = bindLayout([model]);
    const cohort = new SimulatedCohort('treatment', model, new Random(5), layout);
    for (let t = 1; t <= 50; t++) cohort.step(t, 200);
    const s = cohort.snapshot();
    expect(s.latency.count).toBe(50 * 200 * 10);
    // The slow count is what the model drew; the histogram agrees that these are the values > T.
    const share = s.latency.slow / s.latency.count;
    expect(Math.abs(share - 0.05)).toBeLessThan(0.01);
    const rankOfT = 100 * (1 - share);
    expect(s.latency.valueAtPercentile(rankOfT - 0.01)!).toBeLessThanOrEqual(threshold + 8); // one HDR bucket
    expect(s.latency.valueAtPercentile(rankOfT + 0.01)!).toBeGreaterThan(threshold);
  });

  it('mature activation only after 24 ticks and retention after 168', () => {
    const model = new ArmModel(nullBoundary.treatment, 1200, nullBoundary.shape);
    const cohort = new SimulatedCohort('treatment', model, new Random(6), bindLayout([model]));
    for (let t = 1; t <= 24; t++) cohort.step(t, 100);
    expect(cohort.snapshot().activation.matured).toBe(0);
    cohort.step(25, 100);
    expect(cohort.snapshot().activation.matured).toBe(100);
    expect(cohort.snapshot().retention.matured).toBe(0);
  });
});

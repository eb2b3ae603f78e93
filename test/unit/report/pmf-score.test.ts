import { describe, expect, it } from 'vitest';
import type { MetricVerdict } from '../../../src/events/verdict.js';
import { metricScore, pmfScore } from '../../../src/report/pmf-score.js';

const m = (estimate: number | null, threshold: number, status: MetricVerdict['status'] = 'pending'): MetricVerdict => ({ n: 100, estimate, lower: null, upper: null, threshold, status });

describe('PMF score', () => {
  it('is 50 at the threshold, 100 at 50 % better, 0 at 50 % worse, in the good direction of each metric', () => {
    expect(metricScore('activation', m(0.15, 0.15))).toBe(0.5);
    expect(metricScore('activation', m(0.3, 0.15))).toBe(1);
    expect(metricScore('activation', m(0.05, 0.15))).toBe(0);
    expect(metricScore('latencyP95', m(100, 200))).toBe(1);
    expect(metricScore('latencyP95', m(300, 200))).toBe(0);
  });

  it('caps a failed guard at 25 and lifts a passed one to 50', () => {
    expect(metricScore('activation', m(0.3, 0.15, 'fail'))).toBe(0.25);
    expect(metricScore('latencyP95', m(250, 200, 'pass'))).toBe(0.5);
  });

  it('averages the metrics with an estimate, and is null without any', () => {
    expect(pmfScore({ metrics: { activation: m(0.3, 0.15), retention: m(null, 0.4), latencyP95: m(200, 200) } })).toBe(75);
    expect(pmfScore({ metrics: { activation: m(null, 0.15), retention: m(null, 0.4), latencyP95: m(null, 200) } })).toBeNull();
    expect(metricScore('activation', m(0.2, 0))).toBeNull();
  });
});

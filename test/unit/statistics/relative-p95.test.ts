import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import {
  latencyDesignEffect,
  relativeP95Cs,
  relativeP95Decision,
  type LatencyArm,
} from '../../../src/verdict/statistics/relative-p95.js';

/** users × perUser requests with latencies spread evenly over [1, top] ms, independent per request. */
function arm(users: number, perUser: number, top: number, threshold: number): LatencyArm {
  const h = new LatencyHistogram();
  const n = users * perUser;
  let slow = 0;
  let sumSlow2 = 0;
  let sumNSlow = 0;
  for (let u = 0; u < users; u++) {
    let y = 0;
    for (let j = 0; j < perUser; j++) {
      // interleave so each user gets values from the whole range
      const v = Math.ceil(((j * users + u + 1) / n) * top);
      h.record(v);
      if (v > threshold) y++;
    }
    slow += y;
    sumSlow2 += y * y;
    sumNSlow += perUser * y;
  }
  return {
    count: n, slow, users, sumN2: users * perUser * perUser, sumSlow2, sumNSlow,
    valueAtPercentile: (p) => h.valueAtPercentile(p),
  };
}

describe('relative P95 guard', () => {
  it('fails when the treatment P95 is far above 1.1 × the control P95', () => {
    const t = arm(4000, 5, 2000, 1500); // P95 ≈ 1900
    const c = arm(4000, 5, 1000, 1500); // P95 ≈ 950
    const cs = relativeP95Cs(t, c, 0.01);
    expect(cs.treatment.lower!).toBeGreaterThan(1.1 * cs.control.upper!);
    expect(relativeP95Decision(cs.treatment, cs.control, 0.1)).toBe('fail');
  });

  it('passes when the treatment P95 is credibly within the tolerance', () => {
    const t = arm(4000, 5, 1000, 1500);
    const c = arm(4000, 5, 1000, 1500);
    expect(relativeP95Decision(relativeP95Cs(t, c, 0.01).treatment, relativeP95Cs(t, c, 0.01).control, 0.1)).toBe('pass');
  });

  it('is undecided near the tolerance and with open ends', () => {
    expect(relativeP95Decision({ lower: 1050, upper: 1150 }, { lower: 980, upper: 1020 }, 0.1)).toBeNull();
    expect(relativeP95Decision({ lower: null, upper: null }, { lower: 100, upper: 200 }, 0.1)).toBeNull();
    expect(relativeP95Decision({ lower: 5000, upper: null }, { lower: 100, upper: null }, 0.1)).toBeNull();
  });

  it('uses the exceedance design effect when there is data at the threshold, else Kish', () => {
    const t = arm(4000, 5, 2000, 1500);
    expect(latencyDesignEffect(t)).toBeGreaterThanOrEqual(1);
    expect(latencyDesignEffect(t)).toBeLessThan(1.5); // interleaved values: barely correlated
    const few = { count: 50, slow: 0, users: 10, sumN2: 250, sumSlow2: 0, sumNSlow: 0 };
    expect(latencyDesignEffect(few)).toBeCloseTo(5, 12); // Σn²/Σn: all of a user's 5 requests alike
  });
});

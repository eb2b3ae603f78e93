import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import { ReportBuilder } from '../../../src/report/feature-report.js';
import { verdict } from '../../helpers/verdict-fixture.js';

function partial(o: { feature?: string; cohort: string; partition?: number; offset: number; watermark: number; exposed: number; spansMs: number[]; activated: number; matured: number }): CohortPartial {
  const h = new LatencyHistogram();
  for (const v of o.spansMs) h.record(v);
  return {
    feature: o.feature ?? 'f', cohort: o.cohort, partition: o.partition ?? 0, offset: String(o.offset), watermark: o.watermark, firstExposureAt: 0,
    exposed: o.exposed, activation: { matured: o.matured, successes: o.activated }, retention: { matured: 0, successes: 0 },
    latency: { count: o.spansMs.length, slow: 0, users: o.exposed, sumN2: 0, sumSlow2: 0, sumNSlow: 0, histogram: h.toBase64() },
    cohortSwitches: 0,
  };
}

const add = (b: ReportBuilder, c: CohortPartial) => b.add({ feature: c.feature, partition: c.partition, offset: c.offset, watermark: c.watermark, cohorts: [c] });

describe('zombie-feature report', () => {
  it('counts what happened inside the period as the difference of cumulative snapshots', () => {
    const b = new ReportBuilder({ from: 1000, to: 3000 });
    add(b, partial({ cohort: 't', offset: 10, watermark: 500, exposed: 10, spansMs: [100], activated: 1, matured: 5 }));
    add(b, partial({ cohort: 't', offset: 20, watermark: 2000, exposed: 30, spansMs: [100, 100, 100], activated: 3, matured: 15 }));
    add(b, partial({ cohort: 't', offset: 30, watermark: 5000, exposed: 99, spansMs: [100, 100, 100, 100, 100], activated: 9, matured: 90 }));
    const r = b.build(() => [], ['f'], 0.02);
    const f = r.features[0];
    expect(f).toMatchObject({ feature: 'f', exposedUsers: 20, requests: 2, activationRate: 0.2, zombie: false });
    expect(f.spanSeconds).toBeCloseTo(0.2, 2);
    expect(r.from).toBe(new Date(1000).toISOString());
  });

  it('sums partitions, marks a feature below the engagement floor a zombie, and gives each cohort its verdict and score', () => {
    const b = new ReportBuilder();
    add(b, partial({ cohort: 't', partition: 0, offset: 5, watermark: 100, exposed: 400, spansMs: [50, 60], activated: 1, matured: 200 }));
    add(b, partial({ cohort: 't', partition: 1, offset: 7, watermark: 100, exposed: 600, spansMs: [70], activated: 2, matured: 300 }));
    const r = b.build((f) => [verdict({ id: 'x', at: 0, feature: f, cohort: 't', outcome: 'pass' })], ['f', 'unused'], 0.02);
    const f = r.features.find((x) => x.feature === 'f')!;
    expect(f).toMatchObject({ exposedUsers: 1000, requests: 3, activationRate: 0.006, zombie: true, outcome: 'pass' });
    expect(f.zombieReason).toMatch(/below the engagement floor 2.0 %/);
    expect(f.cohorts[0].pmfScore).toBeGreaterThan(0);
    expect(r.features.find((x) => x.feature === 'unused')).toMatchObject({ exposedUsers: 0, zombie: false, zombieReason: 'no exposure in the period' });
    expect(r.from).toBeNull();
  });
});

// Merging per-partition snapshots: early activation counts add up only when every partition of a
// cohort reports them at the same landmark, and the codec accepts snapshots with or without them.
import { describe, expect, it } from 'vitest';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import { decodeFeaturePartial } from '../../../src/events/codec.js';
import type { FeaturePartial } from '../../../src/events/feature-partial.js';
import { mergeFeature } from '../../../src/verdict/merge-partials.js';

const HOUR = 3_600_000;

function cohort(early?: CohortPartial['activation']['early']): CohortPartial {
  return {
    feature: 'f', cohort: 'treatment', partition: 0, offset: '1', watermark: 10 * HOUR, firstExposureAt: 0, exposed: 100,
    activation: { matured: 10, successes: 3, ...(early ? { early } : {}) },
    retention: { matured: 0, successes: 0 },
    latency: { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0, histogram: '' },
    cohortSwitches: 0,
  };
}

function partial(partition: number, c: CohortPartial): FeaturePartial {
  return { feature: 'f', partition, offset: '1', watermark: 10 * HOUR, cohorts: [{ ...c, partition }] };
}

describe('mergeFeature, early activation counts', () => {
  it('adds them over partitions at one landmark', () => {
    const m = mergeFeature([
      partial(0, cohort({ afterMs: 8 * HOUR, reached: 50, successes: 10 })),
      partial(1, cohort({ afterMs: 8 * HOUR, reached: 30, successes: 4 })),
    ]).cohorts.get('treatment')!;
    expect(m.activation).toEqual({ matured: 20, successes: 6, early: { afterMs: 8 * HOUR, reached: 80, successes: 14 } });
  });

  it('drops them when one partition lacks them or uses another landmark', () => {
    for (const other of [cohort(), cohort({ afterMs: 6 * HOUR, reached: 30, successes: 4 })]) {
      for (const order of [[cohort({ afterMs: 8 * HOUR, reached: 50, successes: 10 }), other], [other, cohort({ afterMs: 8 * HOUR, reached: 50, successes: 10 })]]) {
        const m = mergeFeature(order.map((c, i) => partial(i, c))).cohorts.get('treatment')!;
        expect(m.activation.early).toBeUndefined();
        expect(m.activation.matured).toBe(20);
      }
    }
  });

  it('decode with and without them, and refuse a malformed one', () => {
    const encode = (c: unknown) => Buffer.from(JSON.stringify({ feature: 'f', partition: 0, offset: '1', watermark: 0, cohorts: [c] }));
    expect(decodeFeaturePartial(encode(cohort())).cohorts[0].activation.early).toBeUndefined();
    expect(decodeFeaturePartial(encode(cohort({ afterMs: HOUR, reached: 2, successes: 1 }))).cohorts[0].activation.early?.reached).toBe(2);
    expect(() => decodeFeaturePartial(encode({ ...cohort(), activation: { matured: 1, successes: 0, early: { afterMs: HOUR } } }))).toThrow(/activation\.early/);
  });
});

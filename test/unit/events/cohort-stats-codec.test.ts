// The cohort-stats record, format 2: a full snapshot then deltas, rebuilt exactly; damaged records
// are refused with ERR_EVENT_DECODE (the verdict stage counts and skips them); the compaction key
// reads the source partition of either format.

import { describe, expect, it } from 'vitest';
import { encodeJson } from '../../../src/events/codec.js';
import { cohortStatsPartition, decodeCohortStats, StepSnapshotWriter, type CohortCapture } from '../../../src/events/cohort-stats-codec.js';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';

function cohort(name: string, exposed: number, latencies: number[], recent: number[] | null, early = 0): CohortCapture {
  const histogram = new LatencyHistogram();
  for (const v of latencies) histogram.record(v);
  const counts = [exposed, 1, 0, 0, 0, latencies.length, 0, 1, 4, 0, 0, 0, early, early > 0 ? 2 : 0, 0, early > 0 ? 1 : 0];
  return { cohort: name, firstExposureAt: 1000.5, counts, recent, histogram };
}

describe('cohort-stats format 2', () => {
  it('rebuilds each snapshot of a record: unchanged cohorts, changed counts, recorded latencies, whole histograms, new cohorts', () => {
    const w = new StepSnapshotWriter('f', 3);
    w.add(60_000, { offset: '10' }, 61_000, [cohort('a', 5, [100, 200], [100, 200]), cohort('b', 1, [], [])]);
    w.add(120_000, { offset: '12', recordEvents: 4 }, 121_000, [cohort('a', 6, [100, 200, 150.2, 7e9], [151, 3_600_001]), cohort('b', 1, [], [])]);
    w.add(180_000, { offset: '20' }, 181_000, [cohort('a', 6, [100, 200, 150.2, 7e9, 5], null), cohort('aa', 1, [9], [9], 60_000), cohort('b', 1, [], [])]);
    const steps = decodeCohortStats(w.finish());
    expect(steps.map((s) => [s.step, s.offset, s.recordEvents, s.watermark, s.cohorts.map((c) => c.cohort)])).toEqual([
      [60_000, '10', undefined, 61_000, ['a', 'b']],
      [120_000, '12', 4, 121_000, ['a', 'b']],
      [180_000, '20', undefined, 181_000, ['a', 'aa', 'b']],
    ]);
    const a = steps.map((s) => s.cohorts.find((c) => c.cohort === 'a')!);
    expect(a.map((c) => [c.exposed, c.latency.count])).toEqual([[5, 2], [6, 4], [6, 5]]);
    const want = new LatencyHistogram();
    for (const v of [100, 200, 150.2, 7e9]) want.record(v);
    expect(a[1].latency.histogram).toBe(want.toBase64());
    expect(LatencyHistogram.fromBase64(a[1].latency.histogram).clampedCount).toBe(1);
    expect(steps[1].cohorts[1]).toMatchObject({ cohort: 'b', offset: '12', recordEvents: 4, watermark: 121_000, firstExposureAt: 1000.5 });
    expect(steps[2].cohorts[1].activation).toEqual({ matured: 1, successes: 0, early: { afterMs: 60_000, reached: 2, successes: 0, maturedSuccesses: 0 } });
    expect(steps[0].cohorts[0].activation).toEqual({ matured: 1, successes: 0 });
  });

  it('refuses damaged records with ERR_EVENT_DECODE', () => {
    const w = new StepSnapshotWriter('f', 0);
    w.add(60_000, { offset: '1' }, 60_000, [cohort('a', 1, [5], [5])]);
    w.add(120_000, { offset: '2' }, 120_000, [cohort('a', 2, [5, 6], [6])]);
    const good = w.finish();
    expect(() => decodeCohortStats(good.subarray(0, good.length - 1))).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    expect(() => decodeCohortStats(Buffer.concat([good, Buffer.from([0])]))).toThrow(expect.objectContaining({ code: 'ERR_EVENT_DECODE' }));
    const format = Buffer.from(good);
    format[1] = 9;
    expect(() => decodeCohortStats(format)).toThrow(/unknown format 9/);
  });

  it('reads the source partition of either format for compaction, and nothing of other records', () => {
    const w = new StepSnapshotWriter('f', 7);
    w.add(0, { offset: '1' }, 0, []);
    expect(cohortStatsPartition(w.finish())).toBe(7);
    expect(cohortStatsPartition(encodeJson({ feature: 'f', partition: 4, offset: '1', watermark: 0, cohorts: [] }))).toBe(4);
    expect(cohortStatsPartition(encodeJson({ kind: 'rollout-steer', feature: 'f' }))).toBeUndefined();
    expect(cohortStatsPartition(Buffer.from([0, 2]))).toBeUndefined();
  });
});

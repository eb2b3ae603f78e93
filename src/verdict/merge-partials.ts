// Merges one feature's per-partition snapshots into per-cohort totals. Users are keyed to
// partitions, so per-partition user counts are disjoint and simply add up; histograms merge exactly.

import type { CohortPartial } from '../events/cohort-stats.js';
import { serializedHistogram } from '../events/cohort-stats-codec.js';
import { positionText, type FeaturePartial } from '../events/feature-partial.js';
import { LatencyHistogram } from '../events/latency-histogram.js';
import type { MergedCohortStats } from './cohort-evaluator.js';

export interface MergedFeature {
  /**
   * Min watermark over the partitions that report this feature: the event time every one of them
   * has reached. (The max would let one partition with a skewed clock open the gates for all.)
   */
  at: number;
  cohorts: Map<string, MergedCohortStats & { histogram: LatencyHistogram }>;
  inputOffsets: Record<string, string>;
}

function emptyCohort(cohort: string): MergedCohortStats & { histogram: LatencyHistogram } {
  const histogram = new LatencyHistogram();
  return {
    cohort,
    exposed: 0,
    firstExposureAt: Number.POSITIVE_INFINITY,
    activation: { matured: 0, successes: 0 },
    retention: { matured: 0, successes: 0 },
    latency: {
      count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0,
      p95: null,
      valueAtPercentile: (p: number) => (histogram.count === 0 ? null : histogram.valueAtPercentile(p)),
      countAbove: (value: number) => histogram.countAbove(value),
    },
    cohortSwitches: 0,
    histogram,
  };
}

/** Early activation counts add up only when every partition of the cohort has them at one landmark. */
function addEarly(into: ReturnType<typeof emptyCohort>, c: CohortPartial, first: boolean): void {
  const e = c.activation.early;
  const m = into.activation.early;
  if (first && e) into.activation.early = { ...e };
  else if (m && e && m.afterMs === e.afterMs) {
    m.reached += e.reached;
    m.successes += e.successes;
    // Summed only while every partition has it.
    if (m.maturedSuccesses !== undefined && e.maturedSuccesses !== undefined) m.maturedSuccesses += e.maturedSuccesses;
    else delete m.maturedSuccesses;
  } else delete into.activation.early;
}

function add(into: ReturnType<typeof emptyCohort>, c: CohortPartial, first: boolean): void {
  addEarly(into, c, first);
  into.exposed += c.exposed;
  into.firstExposureAt = Math.min(into.firstExposureAt, c.firstExposureAt);
  into.activation.matured += c.activation.matured;
  into.activation.successes += c.activation.successes;
  into.retention.matured += c.retention.matured;
  into.retention.successes += c.retention.successes;
  const l = into.latency;
  l.count += c.latency.count;
  l.slow += c.latency.slow;
  l.users += c.latency.users;
  l.sumN2 += c.latency.sumN2;
  l.sumSlow2 += c.latency.sumSlow2;
  l.sumNSlow += c.latency.sumNSlow;
  into.cohortSwitches += c.cohortSwitches;
  // A decoded record's snapshot brings its histogram's bytes; one restored from a checkpoint, its base64.
  if (c.latency.histogram) into.histogram.mergeSerialized(serializedHistogram(c) ?? Buffer.from(c.latency.histogram, 'base64'));
}

export function mergeFeature(partials: Iterable<FeaturePartial>): MergedFeature {
  const cohorts = new Map<string, ReturnType<typeof emptyCohort>>();
  const inputOffsets: Record<string, string> = {};
  let at = Number.POSITIVE_INFINITY;
  for (const p of partials) {
    at = Math.min(at, p.watermark);
    inputOffsets[String(p.partition)] = positionText(p);
    for (const c of p.cohorts) {
      let m = cohorts.get(c.cohort);
      const first = !m;
      if (!m) cohorts.set(c.cohort, (m = emptyCohort(c.cohort)));
      add(m, c, first);
    }
  }
  for (const m of cohorts.values()) m.latency.p95 = m.histogram.count === 0 ? null : m.histogram.valueAtPercentile(95);
  return { at, cohorts, inputOffsets };
}

// The record on pmf.cohort-stats.v1 (key = feature): every cohort of one feature from one source
// partition, as of one offset. Publishing a feature's cohorts together lets the verdict engine
// apply them atomically, so exposure counts of sibling cohorts (the SRM guard) are always from the
// same instant of the same partition.

import type { CohortPartial } from './cohort-stats.js';

export interface FeaturePartial {
  feature: string;
  partition: number;
  /** Next offset of the source partition reflected here. */
  offset: string;
  watermark: number;
  /**
   * The event-time step this snapshot was taken at: the multiple of the verdict step the
   * partition's watermark crossed with the record before `offset`. The verdict engine evaluates
   * each step over every partition's snapshot as of that step.
   */
  step?: number;
  cohorts: CohortPartial[];
}

/** Groups one partition's cohort snapshots (sorted by feature) into one record per feature. */
export function toFeaturePartials(cohorts: Iterable<CohortPartial>): FeaturePartial[] {
  const byFeature = new Map<string, FeaturePartial>();
  for (const c of cohorts) {
    let p = byFeature.get(c.feature);
    if (!p) byFeature.set(c.feature, (p = { feature: c.feature, partition: c.partition, offset: c.offset, watermark: c.watermark, cohorts: [] }));
    p.cohorts.push(c);
  }
  return [...byFeature.values()];
}

// The record on pmf.cohort-stats.v1 (key = feature): every cohort of one feature from one source
// partition, as of one offset. Publishing a feature's cohorts together lets the verdict engine
// apply them atomically, so exposure counts of sibling cohorts (the SRM guard) are always from the
// same instant of the same partition.

import type { CohortPartial } from './cohort-stats.js';

export interface FeaturePartial {
  feature: string;
  partition: number;
  /** Next offset of the source partition reflected here (see recordEvents). */
  offset: string;
  /** Only inside a record: `offset` is that record's, and its first recordEvents events are reflected. */
  recordEvents?: number;
  watermark: number;
  /**
   * The event-time step this snapshot was taken at: the multiple of the verdict step the
   * partition's watermark crossed with the last event it reflects. The verdict engine evaluates
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
    if (!p) {
      p = { feature: c.feature, partition: c.partition, offset: c.offset, watermark: c.watermark, cohorts: [] };
      if (c.recordEvents !== undefined) p.recordEvents = c.recordEvents;
      byFeature.set(c.feature, p);
    }
    p.cohorts.push(c);
  }
  return [...byFeature.values()];
}

/** Where in its source partition a snapshot was taken. */
export type SnapshotPosition = Pick<FeaturePartial, 'offset' | 'recordEvents'>;

/**
 * Orders two snapshots of one source partition: every record before `offset`, then the first
 * `recordEvents` events of the record at `offset` (none when absent). Negative when a is earlier.
 */
export function compareSnapshotPositions(a: SnapshotPosition, b: SnapshotPosition): number {
  const x = BigInt(a.offset);
  const y = BigInt(b.offset);
  if (x !== y) return x < y ? -1 : 1;
  return (a.recordEvents ?? 0) - (b.recordEvents ?? 0);
}

/** The position as a verdict's inputOffsets shows it: `offset`, or `offset+recordEvents` inside a record. */
export function positionText(p: SnapshotPosition): string {
  return p.recordEvents === undefined ? p.offset : `${p.offset}+${p.recordEvents}`;
}

// The statistics of one cohort inside a FeaturePartial (feature-partial.ts, the record on the
// cohort-stats topic): cumulative counts of one (feature, cohort) as seen by one aggregator over
// one source partition. Cumulative snapshots make replays harmless: the
// verdict engine keeps the latest snapshot per (feature, cohort, partition) and sums them.

export interface RateCounts {
  /** Users whose window has closed (matured) in event time. */
  matured: number;
  /** Matured users who did it (activated / returned). */
  successes: number;
  /**
   * Optional, activation only: the users `afterMs` past their first exposure (a landmark inside
   * the window, so long before it matures), and how many of them had already activated by then.
   * The verdict engine runs an extra, earlier detector on these (docs/statistics.md); a snapshot
   * without them is judged on matured users alone.
   */
  early?: EarlyCounts;
}

export interface EarlyCounts {
  /** The landmark: time since first exposure, ms (the same on every partition of a feature). */
  afterMs: number;
  /** Users whose first exposure is at least afterMs before the watermark. */
  reached: number;
  /** Of those, the users who activated within afterMs of their first exposure. */
  successes: number;
  /**
   * Optional (added later): of the matured users (RateCounts.matured), those who activated within
   * afterMs, so the share activating later among the rest can be formed (the product-limit estimate
   * of docs/statistics.md). Absent on snapshots of older aggregators, which are judged without it.
   */
  maturedSuccesses?: number;
}

export interface LatencyStats {
  /** Requests recorded. */
  count: number;
  /** Requests slower than the rule's latencyP95Threshold. */
  slow: number;
  /** Users with at least one request; the user is the statistical unit (cluster-robust). */
  users: number;
  /** Σ over users of n_u², Σ slow_u², Σ n_u·slow_u — for the cluster-robust ratio variance. */
  sumN2: number;
  sumSlow2: number;
  sumNSlow: number;
  /** Serialized latency histogram (see events/latency-histogram.ts), base64. */
  histogram: string;
}

export interface CohortPartial {
  feature: string;
  cohort: string;
  /** Source partition of pmf.events.v2 this snapshot summarises. */
  partition: number;
  /** Next offset to read on that partition: the snapshot reflects every record before it. */
  offset: string;
  /**
   * Only on a snapshot taken inside a record (a pmf.events.v2 batch whose events crossed a
   * verdict step): `offset` is then that record's own offset, and this many of its first events
   * are reflected too.
   */
  recordEvents?: number;
  /** Event-time watermark of the partition (ms). */
  watermark: number;
  /** Earliest first exposure of this cohort on this partition (ms). */
  firstExposureAt: number;
  exposed: number;
  activation: RateCounts;
  retention: RateCounts;
  latency: LatencyStats;
  /** Users seen later with another cohort for this feature (kept in their first cohort). */
  cohortSwitches: number;
}

// The counters and the stats report of a PartitionAggregator, and the order in which the
// counters are written to a checkpoint (append only: older states hold a prefix of them).

import type { AggregatorState } from './aggregator-state.js';

export interface AggregatorCounters {
  /** Accepted events (not duplicates, not too late, valid). */
  events: number;
  duplicates: number;
  /** Older than watermark − horizon: every window it could affect has closed. Refused. */
  tooLate: number;
  /** Accepted events older than the watermark (still applied where windows are open). */
  lateEvents: number;
  /** Activation / retention effects ignored because that window had closed (end + grace). */
  lateIgnored: number;
  /** Activation / retention successes applied after their window had matured (within the grace). */
  lateApplied: number;
  /** Flag exposures of features without a rule. */
  untracked: number;
  /** Exposures into a new cohort beyond maxCohortsPerFeature (user not tracked). */
  cohortOverflow: number;
  /** Exposures and latency spans of users whose state for the feature was evicted. */
  afterClose: number;
  /** Named latency spans of users not (yet) exposed to the feature. */
  latencyUnjoined: number;
  invalidEvents: number;
  /** Latency spans with a negative or non-finite duration. */
  invalidDurations: number;
  /** Records at or below the last applied offset (re-deliveries), skipped. */
  replayedRecords: number;
  evictedUsers: number;
  /** Eviction markers dropped by maxRetiredUsers. */
  forgottenUsers: number;
}

export interface AggregatorStats extends AggregatorCounters {
  partition: number;
  /** Next offset to read; null before the first record. */
  nextOffset: string | null;
  /** null before the first accepted event. */
  watermark: number | null;
  /** Live (user, feature) states. */
  trackedUsers: number;
  retiredUsers: number;
  dedupeEntries: number;
  /** Highest event time accepted; null before the first. */
  maxEventTime: number | null;
  /** Events older than this are refused (tooLate); null before the first event. */
  latenessHorizon: number | null;
  /** Sources seen, and those holding the watermark. */
  sources: number;
  activeSources: number;
  /** Ids forgotten because of maxDedupeEntries (a resend of one would no longer be caught). */
  dedupeEvictedByCap: number;
  /** Bytes of the per-(user, feature) state: store arrays, user index and deadline heap. */
  stateBytes: number;
  /** Bytes of the eviction markers. */
  markerBytes: number;
  /** Bytes of the dedupe window. */
  dedupeBytes: number;
  /** Bytes of the latency histograms and per-cohort counters (estimated). */
  histogramBytes: number;
  /** Everything above plus alias ids. */
  approxBytes: number;
}

export const COUNTER_NAMES: readonly (keyof AggregatorCounters)[] = [
  'events',
  'duplicates',
  'tooLate',
  'lateEvents',
  'lateIgnored',
  'untracked',
  'cohortOverflow',
  'afterClose',
  'latencyUnjoined',
  'invalidEvents',
  'invalidDurations',
  'replayedRecords',
  'evictedUsers',
  'forgottenUsers',
  'lateApplied',
];
/** Counters of state version 2 (before lateApplied). */
export const V2_COUNTERS = 14;

export function zeroCounters(): AggregatorCounters {
  return Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as unknown as AggregatorCounters;
}

/** The stats report of a partition's state (deadlineBytes: its deadline heap). */
export function aggregatorStats(s: AggregatorState, deadlineBytes: number, watermark: number, latenessHorizon: number): AggregatorStats {
  let histogramBytes = 0;
  for (const slot of s.slots) for (const acc of slot.cohorts) histogramBytes += 300 + acc.histogram.approxBytes;
  const dedupeBytes = s.dedupe.approxBytes();
  const started = watermark !== Number.NEGATIVE_INFINITY;
  return {
    ...s.counters,
    partition: s.partition,
    nextOffset: s.lastOffset === undefined ? null : (BigInt(s.lastOffset) + 1n).toString(),
    watermark: started ? watermark : null,
    maxEventTime: s.clock.maxEventTime === Number.NEGATIVE_INFINITY ? null : s.clock.maxEventTime,
    latenessHorizon: started ? latenessHorizon : null,
    sources: s.clock.sourceCount,
    activeSources: s.clock.activeSources(),
    trackedUsers: s.store.liveCount,
    retiredUsers: s.store.retiredCount,
    dedupeEntries: s.dedupe.size,
    dedupeEvictedByCap: s.dedupe.evictedByCap,
    stateBytes: s.store.stateBytes() + deadlineBytes,
    markerBytes: s.store.markerBytes(),
    dedupeBytes,
    histogramBytes,
    approxBytes: s.store.approxBytes() + deadlineBytes + dedupeBytes + histogramBytes,
  };
}

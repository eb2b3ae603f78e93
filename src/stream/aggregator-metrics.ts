// Prometheus samples of the aggregation state of every partition a member owns (stats() of each
// PartitionAggregator): what was accepted, what was refused and why (duplicates, too late,
// invalid), what arrived late, and the memory held. Labelled by source partition: the counters
// travel with the partition's checkpoint, so a partition's series moves to its new owner on a
// rebalance and continues from the same total.

import type { Sample } from '../admin/metrics-registry.js';
import type { PartitionProcessor } from './partition-processor.js';
import { AggregatorProcessor } from './aggregator-processor.js';
import type { AggregatorStats } from '../aggregation/partition-aggregator.js';

type NumericKey = { [K in keyof AggregatorStats]: AggregatorStats[K] extends number ? K : never }[keyof AggregatorStats];

const COUNTERS: [string, NumericKey, string][] = [
  ['pmf_aggregator_events_accepted_total', 'events', 'Feature events applied (not duplicates, not too late, valid)'],
  ['pmf_aggregator_events_duplicate_total', 'duplicates', 'Events dropped as resends of an already applied id'],
  ['pmf_aggregator_events_too_late_total', 'tooLate', 'Events older than watermark - (longest rule window + grace): every window they could affect had closed, refused'],
  ['pmf_aggregator_events_invalid_total', 'invalidEvents', 'Events with a missing or mistyped field, refused'],
  ['pmf_aggregator_events_late_total', 'lateEvents', 'Accepted events older than the watermark (applied where windows are still open)'],
  ['pmf_aggregator_late_effects_ignored_total', 'lateIgnored', 'Activation/retention effects ignored because that window had closed (end + grace)'],
  ['pmf_aggregator_late_effects_applied_total', 'lateApplied', 'Activation/retention successes applied after their window matured, within the grace'],
  ['pmf_aggregator_after_close_total', 'afterClose', 'Exposures and latency spans of users whose windows had closed (evicted)'],
  ['pmf_aggregator_untracked_exposures_total', 'untracked', 'Flag exposures of features without a rule'],
  ['pmf_aggregator_cohort_overflow_total', 'cohortOverflow', 'Exposures into a cohort beyond maxCohortsPerFeature (not tracked)'],
  ['pmf_aggregator_latency_unjoined_total', 'latencyUnjoined', 'Named latency spans of users not exposed to the feature'],
  ['pmf_aggregator_invalid_durations_total', 'invalidDurations', 'Latency spans with a negative or non-finite duration'],
  ['pmf_aggregator_evicted_total', 'evictedUsers', 'User states evicted after every window they affect closed'],
  ['pmf_aggregator_markers_forgotten_total', 'forgottenUsers', 'Eviction markers dropped by the marker cap (such users would count as new)'],
  ['pmf_aggregator_dedupe_evicted_by_cap_total', 'dedupeEvictedByCap', 'Remembered ids dropped by the dedupe cap (a resend of one would count again)'],
];

const GAUGES: [string, NumericKey, string][] = [
  ['pmf_aggregator_tracked_pairs', 'trackedUsers', 'Live (user, feature) states'],
  ['pmf_aggregator_retired_markers', 'retiredUsers', 'Eviction markers kept'],
  ['pmf_aggregator_dedupe_entries', 'dedupeEntries', 'Ids remembered by the dedupe window'],
  ['pmf_aggregator_sources', 'sources', 'Sources (services) seen on the partition'],
  ['pmf_aggregator_sources_active', 'activeSources', 'Sources holding the watermark (not idle)'],
];

const BYTES: [string, NumericKey][] = [
  ['state', 'stateBytes'],
  ['markers', 'markerBytes'],
  ['dedupe', 'dedupeBytes'],
  ['histograms', 'histogramBytes'],
];

/** Every family aggregatorSamples renders, so /metrics can declare them before a partition is owned. */
export function aggregatorFamilies(): { name: string; help: string; type: 'counter' | 'gauge' }[] {
  return [
    ...COUNTERS.map(([name, , help]) => ({ name, help, type: 'counter' as const })),
    ...GAUGES.map(([name, , help]) => ({ name, help, type: 'gauge' as const })),
    { name: 'pmf_aggregator_memory_bytes', help: 'Approximate bytes held by the aggregation state, by part', type: 'gauge' },
    { name: 'pmf_aggregator_watermark_seconds', help: 'Event-time watermark of the partition (seconds since the epoch)', type: 'gauge' },
    { name: 'pmf_aggregator_watermark_lag_seconds', help: 'How far the event-time watermark is behind the wall clock', type: 'gauge' },
    { name: 'pmf_aggregator_watermark_held_back_seconds', help: 'Newest event time minus the watermark: allowed lateness plus what slower sources hold back', type: 'gauge' },
    { name: 'pmf_aggregator_lateness_horizon_seconds', help: 'Events older than this event time (seconds since the epoch) are refused as too late', type: 'gauge' },
  ];
}

/** `now` (wall clock) only labels how far behind the present the watermark is; it computes nothing. */
export function aggregatorSamples(processors: ReadonlyMap<number, PartitionProcessor>, now: number): Sample[] {

  const out: Sample[] = [];
  for (const [partition, p] of processors) {
    if (!(p instanceof AggregatorProcessor)) continue;
    const s = p.aggregator.stats();
    const labels = { partition: String(partition) };
    for (const [name, key, help] of COUNTERS) out.push({ name, help, type: 'counter', labels, value: s[key] });
    for (const [name, key, help] of GAUGES) out.push({ name, help, type: 'gauge', labels, value: s[key] });
    for (const [part, key] of BYTES) {
      out.push({ name: 'pmf_aggregator_memory_bytes', help: 'Approximate bytes held by the aggregation state, by part', type: 'gauge', labels: { ...labels, part }, value: s[key] });
    }
    if (s.watermark !== null) {
      out.push({ name: 'pmf_aggregator_watermark_seconds', help: 'Event-time watermark of the partition (seconds since the epoch)', type: 'gauge', labels, value: s.watermark / 1000 });
    }
    if (s.watermark !== null && s.maxEventTime !== null && s.latenessHorizon !== null) {
      out.push({ name: 'pmf_aggregator_watermark_lag_seconds', help: 'How far the event-time watermark is behind the wall clock', type: 'gauge', labels, value: (now - s.watermark) / 1000 });
      out.push({ name: 'pmf_aggregator_watermark_held_back_seconds', help: 'Newest event time minus the watermark: allowed lateness plus what slower sources hold back', type: 'gauge', labels, value: (s.maxEventTime - s.watermark) / 1000 });
      out.push({ name: 'pmf_aggregator_lateness_horizon_seconds', help: 'Events older than this event time (seconds since the epoch) are refused as too late', type: 'gauge', labels, value: s.latenessHorizon / 1000 });
    }
  }
  return out;
}

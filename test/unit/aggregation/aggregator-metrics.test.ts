import { describe, expect, it } from 'vitest';
import { AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { aggregatorSamples } from '../../../src/stream/aggregator-metrics.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { topicNames } from '../../../src/events/topics.js';
import { ruleSet } from './rules-fixture.js';

describe('aggregatorSamples', () => {
  it('reports accepted, duplicate, too-late and late events and memory per partition', () => {
    const agg = new PartitionAggregator({ partition: 4, rules: ruleSet([{ featureId: 'f' }]), allowedLatenessMs: 0, maxLatenessMs: 1000 });
    const p = new AggregatorProcessor(agg, topicNames('x.'), 60_000);
    const events = [
      { user: 'a', time: 10_000, id: 'e1', name: 'page', flags: [{ feature: 'f', variant: 'on' }], source: 'span' },
      { user: 'a', time: 10_000, id: 'e1', name: 'page', flags: [{ feature: 'f', variant: 'on' }], source: 'span' }, // resend
      { user: 'b', time: 9_500, id: 'e2', name: 'page', flags: [], source: 'span' }, // late, accepted
      { user: 'b', time: 8_000, id: 'e3', name: 'page', flags: [], source: 'span' }, // beyond the horizon
    ];
    events.forEach((e, i) => p.apply({ partition: 4, offset: String(i), key: e.user, value: encodeEventRecord([e as FeatureEvent]), timestamp: 0 }));
    const samples = aggregatorSamples(new Map([[4, p]]), 70_000);
    const value = (name: string, part?: string) =>
      samples.find((s) => s.name === name && s.labels?.partition === '4' && (part === undefined || s.labels?.part === part))?.value;
    expect(value('pmf_aggregator_events_accepted_total')).toBe(2);
    expect(value('pmf_aggregator_events_duplicate_total')).toBe(1);
    expect(value('pmf_aggregator_events_too_late_total')).toBe(1);
    expect(value('pmf_aggregator_events_late_total')).toBe(1);
    expect(value('pmf_aggregator_tracked_pairs')).toBe(1);
    expect(value('pmf_aggregator_watermark_seconds')).toBe(10);
    expect(value('pmf_aggregator_watermark_lag_seconds')).toBe(60);
    expect(value('pmf_aggregator_lateness_horizon_seconds')).toBe(9);
    expect(value('pmf_aggregator_memory_bytes', 'state')).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { topicNames } from '../../../src/events/topics.js';
import { AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

const RULES = ruleSet([{ featureId: 'f', cohorts: { map: { on: 'treatment', off: 'control' } } }]);
const T = Date.UTC(2025, 0, 15, 12);
const ev = (user: string, n: number, variant = 'on'): FeatureEvent => ({
  user, time: T + n * 1000, id: `${user}-${n}`, name: 'page', flags: [{ feature: 'f', variant }], source: 'span',
});

function processor() {
  const agg = new PartitionAggregator({ partition: 0, rules: RULES, allowedLatenessMs: 0 });
  return { agg, p: new AggregatorProcessor(agg, topicNames('pmf.'), 60_000) };
}

const record = (offset: number, events: FeatureEvent[]) => ({ partition: 0, offset: String(offset), key: events[0].user, value: encodeEventRecord(events), timestamp: 0 });

describe('the aggregator reading pmf.events.v2 records', () => {
  it('applies every event of a record once, in order, and skips a re-delivered record whole', () => {
    const { agg, p } = processor();
    p.apply(record(0, [ev('a', 1), ev('b', 2, 'off'), ev('a', 3)]));
    p.apply(record(1, [ev('c', 4)]));
    p.apply(record(1, [ev('c', 4)])); // re-delivery
    p.apply(record(0, [ev('a', 1), ev('b', 2, 'off'), ev('a', 3)]));
    expect(agg.stats()).toMatchObject({ events: 4, duplicates: 0 });
    expect(agg.stats().replayedRecords).toBeGreaterThanOrEqual(2);
    expect(agg.nextOffset).toBe('2');
    const exposed = Object.fromEntries(agg.snapshot().map((c) => [c.cohort, c.exposed]));
    expect(exposed).toEqual({ treatment: 2, control: 1 });
  });

  it('gives the same state whether events come one per record or batched', () => {
    const events = [ev('a', 1), ev('b', 2, 'off'), ev('a', 3), ev('c', 4), ev('d', 5, 'off')];
    const one = processor();
    events.forEach((e, i) => one.p.apply(record(i, [e])));
    const batched = processor();
    batched.p.apply(record(0, events.slice(0, 2)));
    batched.p.apply(record(4, events.slice(2)));
    expect(batched.agg.snapshot()).toEqual(one.agg.snapshot().map((c) => ({ ...c, offset: batched.agg.snapshot()[0].offset })));
  });
});

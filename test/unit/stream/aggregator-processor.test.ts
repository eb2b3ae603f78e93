// The aggregator stage's step snapshots: taken when the watermark crosses a step of event time,
// and marked urgent so the runner publishes them without waiting for its publish interval.

import { describe, expect, it } from 'vitest';
import { AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { decodeCohortStats } from '../../../src/events/cohort-stats-codec.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { topicNames } from '../../../src/events/topics.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

function processor(stepMs: number): { p: AggregatorProcessor; send: (time: number) => void } {
  const agg = new PartitionAggregator({ partition: 0, rules: ruleSet([{ featureId: 'f' }]), allowedLatenessMs: 0 });
  const p = new AggregatorProcessor(agg, topicNames('x.'), stepMs);
  let offset = 0;
  const send = (time: number) => {
    const e: FeatureEvent = { user: `u${offset}`, time, id: `e${offset}`, name: 'page', flags: [{ feature: 'f', variant: 'on' }], source: 'span' };
    p.applyEvents([e], String(offset++));
  };
  return { p, send };
}

describe('AggregatorProcessor step snapshots', () => {
  it('is urgent only while a step snapshot waits to be published', () => {
    const { p, send } = processor(1000);
    send(10_000);
    expect(p.hasUrgentOutputs()).toBe(true);
    expect(p.takeOutputs()[0].records.flatMap((r) => decodeCohortStats(r.value).map((s) => s.step))).toEqual([10_000]);
    expect(p.hasUrgentOutputs()).toBe(false);
    send(10_400); // same step: nothing to publish
    expect(p.hasUrgentOutputs()).toBe(false);
    expect(p.takeOutputs()).toEqual([]);
    send(11_000);
    expect(p.hasUrgentOutputs()).toBe(true);
  });

  it('lets step snapshots wait for the publish interval while the input is a backlog, and sends the same snapshots', () => {
    const { p, send } = processor(1000);
    send(10_000);
    send(11_000);
    expect(p.hasUrgentOutputs(true)).toBe(false);
    expect(p.hasUrgentOutputs(false)).toBe(true);
    expect(p.takeOutputs()[0].records.flatMap((r) => decodeCohortStats(r.value).map((s) => s.step))).toEqual([10_000, 11_000]);
    expect(p.hasUrgentOutputs(false)).toBe(false);
  });

  it('steps at sub-second multiples of event time', () => {
    const { p, send } = processor(250);
    send(10_100);
    send(10_200);
    send(10_260);
    // Both steps of the feature in one record, the second as what changed since the first.
    const records = p.takeOutputs()[0].records;
    expect(records.map((r) => r.key)).toEqual(['f']);
    expect(decodeCohortStats(records[0].value).map((s) => [s.step, s.cohorts[0].exposed])).toEqual([[10_000, 1], [10_250, 3]]);
  });

  it('starts a new record (with a full snapshot) past 256 KB, so a long wait between flushes never makes one the broker refuses', () => {
    const { p, send } = processor(1);
    for (let i = 0; i < 12_000; i++) send(10_000 + i);
    const records = p.takeOutputs()[0].records;
    expect(records.length).toBeGreaterThan(1);
    for (const r of records) expect(r.value.length).toBeLessThan(257 * 1024);
    const steps = records.flatMap((r) => decodeCohortStats(r.value));
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 12_000 }, (_, i) => 10_000 + i));
    expect(steps.map((s) => s.cohorts[0].exposed)).toEqual(Array.from({ length: 12_000 }, (_, i) => i + 1));
  });
});

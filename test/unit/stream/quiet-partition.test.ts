// A quiet partition and the watermark marker. The verdict engine judges a step once every
// partition's watermark has passed it; when the users of one partition stop (few users a minute,
// keyed hashing), that partition holds every step after its last event. A marker record on it
// (what a receiver writes to a partition it left quiet) moves its watermark as an event of that
// source at that time would, so the engine judges the steps the other partitions reached. The
// marker is a record of the log: the live path (records as bytes, partitions in any order) and a
// replay of the same log give the same verdicts.

import { describe, expect, it } from 'vitest';
import { createEvaluator } from '../../../src/app/stage-settings.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { Config } from '../../../src/config/schema.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { topicNames } from '../../../src/events/topics.js';
import type { Verdict } from '../../../src/events/verdict.js';
import { encodeWatermarkMarker } from '../../../src/events/watermark-marker.js';
import { replay, type RecordedEvent } from '../../../src/replay/replay.js';
import { AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { VerdictEngine } from '../../../src/verdict/verdict-engine.js';
import { mulberry32 } from '../../helpers/prng.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

const STEP = 60_000;
const PARTITIONS = 3;
const QUIET = 2;
const T0 = Date.UTC(2025, 0, 15, 8);
const END = T0 + 3600_000;
/** Partition QUIET gets no user after this. */
const CUT = T0 + 1800_000;
const AGGREGATION = { allowedLatenessMs: 0 };
// A verdict every step (not only on a change), so the last one tells how far the engine judged.
const RULES = ruleSet([{ featureId: 'recs', minCohortSize: 20, activation: { action: { spanName: 'recs.click' }, windowSeconds: 300 }, cohorts: { control: 'control', guarded: ['treatment'] } }]);

/** Users over an hour, in requests of 20 events, one record per request and partition. */
function log(): Map<number, RecordedEvent[]> {
  const rand = mulberry32(7);
  const parts = new Map<number, RecordedEvent[]>(Array.from({ length: PARTITIONS }, (_, p) => [p, []]));
  const events: { p: number; e: FeatureEvent }[] = [];
  for (let i = 0; i < 900; i++) {
    const p = i % PARTITIONS;
    const at = T0 + Math.floor((i / 900) * 3600_000);
    if (p === QUIET && at > CUT) continue;
    const e = (time: number, name: string, flags: FeatureEvent['flags'] = []): FeatureEvent => ({ user: `u${i}`, time, id: `e${i}.${name}`, name, flags, source: 'span', origin: 'web' });
    events.push({ p, e: e(at, 'recs.render', [{ feature: 'recs', variant: i % 2 === 0 ? 'control' : 'treatment' }]) });
    if (rand() < 0.4) events.push({ p, e: e(at + 10_000, 'recs.click') });
  }
  events.sort((a, b) => a.e.time - b.e.time);
  for (let i = 0; i < events.length; i += 20) {
    const byPartition = new Map<number, FeatureEvent[]>();
    for (const { p, e } of events.slice(i, i + 20)) (byPartition.get(p) ?? byPartition.set(p, []).get(p)!).push(e);
    for (const [p, evs] of byPartition) append(parts, p, { events: evs });
  }
  return parts;
}

function append(parts: Map<number, RecordedEvent[]>, partition: number, r: Omit<RecordedEvent, 'partition' | 'offset'>): void {
  const list = parts.get(partition)!;
  list.push({ partition, offset: String(list.length), ...r });
}

/** The same log with a marker on the quiet partition: the latest time the receiver published. */
function withMarker(parts: Map<number, RecordedEvent[]>): Map<number, RecordedEvent[]> {
  const copy = new Map([...parts].map(([p, list]) => [p, [...list]]));
  const latest = Math.max(...[...parts.values()].flat().flatMap((r) => r.events.map((e) => e.time)));
  append(copy, QUIET, { events: [], marks: [{ origin: 'web', time: latest }] });
  return copy;
}

const options = () => ({ rules: RULES, evaluator: createEvaluator(Config.parse({})), stepMs: STEP, heartbeatMs: STEP, partitions: PARTITIONS, aggregation: AGGREGATION });
const lastJudged = (vs: Verdict[]) => Math.max(...vs.map((v) => Date.parse(v.evaluatedAt)));
const stream = (vs: Verdict[]) => vs.map((v) => ({ ...v, verdictId: undefined }));

/** The live path: each partition's records as the stage reads them (bytes), the partitions one after another. */
function live(parts: Map<number, RecordedEvent[]>, order: number[]): Verdict[] {
  const engine = new VerdictEngine({ rules: RULES, evaluator: createEvaluator(Config.parse({})), heartbeatMs: STEP, partitions: PARTITIONS });
  const verdicts: Verdict[] = [];
  for (const p of order) {
    const proc = new AggregatorProcessor(new PartitionAggregator({ ...AGGREGATION, partition: p, rules: RULES }), topicNames('t.'), STEP);
    for (const r of parts.get(p)!) {
      const value = r.marks ? encodeWatermarkMarker(r.marks) : encodeEventRecord(r.events);
      proc.apply({ partition: p, offset: r.offset, key: null, value, timestamp: 0 });
    }
    for (const fp of proc.takeSteps()) verdicts.push(...engine.apply(fp).verdicts);
  }
  return verdicts;
}

describe('a quiet partition', () => {
  it('holds every step after its last event without a marker; with one, the engine judges the step the others reached', () => {
    const held = replay(log(), options());
    expect(held.verdicts.length).toBeGreaterThan(0);
    expect(lastJudged(held.verdicts)).toBeLessThanOrEqual(CUT);
    expect(lastJudged(held.verdicts)).toBeGreaterThanOrEqual(CUT - 2 * STEP);

    const marked = replay(withMarker(log()), options());
    // The other partitions' last events are within a few seconds of the end of the hour.
    expect(lastJudged(marked.verdicts)).toBeGreaterThanOrEqual(END - 2 * STEP);
    // Up to the cut, the marker changes nothing: the same verdicts, then more.
    expect(stream(marked.verdicts.slice(0, held.verdicts.length))).toEqual(stream(held.verdicts));
    expect(marked.events).toBe(held.events);
  });

  it('gives the same verdicts live (records as bytes, any partition order) as a replay of the same log', () => {
    const parts = withMarker(log());
    const replayed = stream(replay(parts, options()).verdicts);
    expect(stream(live(parts, [0, 1, 2]))).toEqual(replayed);
    expect(stream(live(parts, [2, 1, 0]))).toEqual(replayed);
  });

  it('applies a marker once: a re-delivered one, or one at or below the last offset, changes nothing', () => {
    const agg = new PartitionAggregator({ ...AGGREGATION, partition: 0, rules: RULES });
    agg.applyRecord([{ user: 'u', time: T0, id: 'a', name: 'n', flags: [], source: 'span', origin: 'web' }], '0');
    expect(agg.applyMarker([{ origin: 'web', time: T0 + 5000 }], '1')).toBe(true);
    expect(agg.watermark).toBe(T0 + 5000);
    expect(agg.applyMarker([{ origin: 'web', time: T0 + 9000 }], '1')).toBe(false);
    expect(agg.watermark).toBe(T0 + 5000);
    expect(agg.stats()).toMatchObject({ events: 1, replayedRecords: 1, nextOffset: '2' });
  });
});

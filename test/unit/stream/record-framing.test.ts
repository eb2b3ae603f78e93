// The record framing of pmf.events.v2 must not show in the statistics: the same events, one per
// record or batched per request and partition (as the receiver writes them, requests arriving out
// of order as concurrent exports do), give the same step snapshots and the same verdict stream.

import { describe, expect, it } from 'vitest';
import { createEvaluator } from '../../../src/app/stage-settings.js';
import { Config } from '../../../src/config/schema.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import type { FeaturePartial } from '../../../src/events/feature-partial.js';
import { topicNames } from '../../../src/events/topics.js';
import type { Verdict } from '../../../src/events/verdict.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { replay, type RecordedEvent } from '../../../src/replay/replay.js';
import { AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { mulberry32, normal } from '../../helpers/prng.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

const STEP = 60_000;
const PARTITIONS = 3;
const T0 = Date.UTC(2025, 0, 15, 8);
const RULES = ruleSet([{
  featureId: 'recs',
  minCohortSize: 200,
  evaluationWindowSeconds: 3600,
  latencyP95Threshold: 200,
  latency: { spanName: 'GET /dashboard' },
  activation: { action: { spanName: 'recs.click' }, windowSeconds: 600 },
  cohorts: { control: 'control', guarded: ['treatment'] },
  mode: 'enforce',
}]);

/** Users arrive over 2 h; each is exposed, loads the dashboard twice (treatment 300 ms slower), sometimes clicks. */
function scenario(users: number): FeatureEvent[] {
  const rand = mulberry32(11);
  const out: FeatureEvent[] = [];
  let n = 0;
  for (let i = 0; i < users; i++) {
    const user = `u${i}`;
    const cohort = i % 2 === 0 ? 'control' : 'treatment';
    const at = T0 + Math.floor((i / users) * 2 * 3600_000);
    const span = (time: number, name: string, durationMs: number, flags: FeatureEvent['flags'] = []): FeatureEvent =>
      ({ user, time, id: `s${n++}`, name, durationMs, flags, source: 'span', origin: 'web' });
    out.push(span(at, 'recs.render', 5, [{ feature: 'recs', variant: cohort }]));
    for (let r = 0; r < 2; r++) out.push(span(at + 1000 + r * 60_000, 'GET /dashboard', Math.round(110 * Math.exp(0.25 * normal(rand)) + (cohort === 'treatment' ? 300 : 0))));
    if (rand() < 0.3) out.push(span(at + 120_000, 'recs.click', 3));
  }
  return out;
}

const partitionOf = (user: string) => Number(user.slice(1)) % PARTITIONS;

/**
 * Requests of `size` events; every `window` requests arrive in a shuffled order, the way a batch
 * exporter's concurrent flush lands (the newest request first, often).
 */
function requests(events: FeatureEvent[], size: number, window: number): FeatureEvent[][] {
  const rand = mulberry32(5);
  const all: FeatureEvent[][] = [];
  for (let i = 0; i < events.length; i += size) all.push(events.slice(i, i + size));
  const out: FeatureEvent[][] = [];
  for (let i = 0; i < all.length; i += window) {
    const w = all.slice(i, i + window);
    for (let k = w.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      [w[k], w[j]] = [w[j], w[k]];
    }
    out.push(...w);
  }
  return out;
}

/** The log per partition: one record per event (as on pmf.events.v1), or one per request and partition. */
function log(reqs: FeatureEvent[][], batched: boolean): Map<number, RecordedEvent[]> {
  const parts = new Map<number, RecordedEvent[]>(Array.from({ length: PARTITIONS }, (_, p) => [p, []]));
  for (const req of reqs) {
    if (!batched) {
      for (const e of req) append(parts, partitionOf(e.user), [e]);
      continue;
    }
    const byPartition = new Map<number, FeatureEvent[]>();
    for (const e of req) (byPartition.get(partitionOf(e.user)) ?? byPartition.set(partitionOf(e.user), []).get(partitionOf(e.user))!).push(e);
    for (const [p, evs] of byPartition) append(parts, p, evs);
  }
  return parts;
}

function append(parts: Map<number, RecordedEvent[]>, partition: number, events: FeatureEvent[]): void {
  const list = parts.get(partition)!;
  list.push({ partition, offset: String(list.length), events });
}

/** Each partition's step snapshots, in order. */
function snapshots(parts: Map<number, RecordedEvent[]>): Map<number, FeaturePartial[]> {
  const out = new Map<number, FeaturePartial[]>();
  for (const [p, records] of parts) {
    const proc = new AggregatorProcessor(new PartitionAggregator({ partition: p, rules: RULES }), topicNames('t.'), STEP);
    for (const r of records) proc.applyEvents(r.events, r.offset);
    out.set(p, proc.takeSteps());
  }
  return out;
}

/** What may differ between framings: where in the log a snapshot or verdict was taken. */
const unframed = (p: FeaturePartial) => ({
  ...p, offset: undefined, recordEvents: undefined,
  cohorts: p.cohorts.map((c) => ({ ...c, offset: undefined, recordEvents: undefined })),
});
const verdictStream = (vs: Verdict[]) => vs.map((v) => ({ ...v, verdictId: undefined, inputOffsets: undefined }));

describe('record framing', () => {
  const events = scenario(800);
  const evaluator = () => createEvaluator(Config.parse({}));

  it.each([[300, 6], [97, 4], [1000, 1]])('gives the same step snapshots and verdicts with requests of %i events, %i arriving together', (size, window) => {
    const reqs = requests(events, size, window);
    const one = log(reqs, false);
    const batched = log(reqs, true);
    expect([...batched.values()].some((records) => records.some((r) => r.events.length > 1))).toBe(true);

    const a = snapshots(one);
    const b = snapshots(batched);
    for (let p = 0; p < PARTITIONS; p++) {
      expect(a.get(p)!.length).toBeGreaterThan(10);
      expect(b.get(p)!.map(unframed)).toEqual(a.get(p)!.map(unframed));
    }

    const options = { rules: RULES, evaluator: evaluator(), stepMs: STEP, partitions: PARTITIONS };
    const live = replay(one, options);
    const framed = replay(batched, { ...options, evaluator: evaluator() });
    expect(verdictStream(framed.verdicts)).toEqual(verdictStream(live.verdicts));
    expect(framed.commands.map((c) => [c.cohort, c.issuedAt])).toEqual(live.commands.map((c) => [c.cohort, c.issuedAt]));
  });

  it('rolls the slow treatment back, judged on data up to the end of the stream', () => {
    const r = replay(log(requests(events, 300, 6), true), { rules: RULES, evaluator: evaluator(), stepMs: STEP, partitions: PARTITIONS });
    expect(r.commands.map((c) => [c.cohort, c.action])).toEqual([['treatment', 'rollback']]);
  });

  it('snapshots a step inside a record at the event that crossed it, and says how much of the record it holds', () => {
    const t = T0 + 3600_000;
    const ev = (n: number, at: number): FeatureEvent => ({ user: 'u1', time: at, id: `e${n}`, name: 'recs.render', durationMs: 5, flags: [{ feature: 'recs', variant: 'control' }], source: 'span' });
    const agg = new PartitionAggregator({ partition: 0, rules: RULES, allowedLatenessMs: 0 });
    const proc = new AggregatorProcessor(agg, topicNames('t.'), STEP);
    proc.applyEvents([ev(0, t)], '0');
    // Crosses t + 60 s at its second event and t + 180 s at its fourth (one snapshot: nothing lies between).
    proc.applyEvents([ev(1, t + 30_000), ev(2, t + 61_000), ev(3, t + 62_000), ev(4, t + 200_000), ev(5, t + 201_000)], '1');
    const steps = proc.takeSteps();
    expect(steps.map((s) => [s.step! - t, s.offset, s.recordEvents, s.watermark - t])).toEqual([
      [0, '1', undefined, 0],
      [60_000, '1', 2, 61_000],
      [180_000, '1', 4, 200_000],
    ]);
    expect(steps[1].cohorts[0]).toMatchObject({ offset: '1', recordEvents: 2 });
  });
});

// The cohort-stats record format must not show in the verdicts: the same events give the same step
// snapshots and the same verdict and command records whether the aggregator publishes one JSON
// snapshot per step and feature (format 1, as before) or binary records holding a full snapshot
// and then deltas (format 2), however the flushes group the steps, across a crash of the
// aggregator (restart from an older checkpoint, re-publishing steps the verdict stage has seen)
// and a restart of the verdict stage from its checkpoint (whole or incremental) with re-delivered records.

import { describe, expect, it } from 'vitest';
import { createEvaluator } from '../../../src/app/stage-settings.js';
import { Config } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { encodeJson } from '../../../src/events/codec.js';
import { commandKeyRing } from '../../../src/events/command-signature.js';
import { decodeCohortStats } from '../../../src/events/cohort-stats-codec.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { toFeaturePartials, type FeaturePartial, type SnapshotPosition } from '../../../src/events/feature-partial.js';
import { topicNames } from '../../../src/events/topics.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import { aggregatorProcessorFactory, type AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { InMemoryCheckpointStore } from '../../../src/stream/checkpoint-store.js';
import { verdictProcessorFactory } from '../../../src/stream/verdict-processor.js';
import { VerdictEngine } from '../../../src/verdict/verdict-engine.js';
import { mulberry32, normal } from '../../helpers/prng.js';
import { ruleSet } from '../aggregation/rules-fixture.js';

const STEP = 60_000;
const PARTITIONS = 3;
const T0 = Date.UTC(2025, 0, 15, 8);
const TOPICS = topicNames('t.');
const RULES = ruleSet([
  {
    featureId: 'recs',
    minCohortSize: 150,
    latencyP95Threshold: 200,
    latency: { spanName: 'GET /dashboard' },
    activation: { action: { spanName: 'recs.click' }, windowSeconds: 600, earlySeconds: 300 },
    cohorts: { control: 'control', guarded: ['treatment'] },
    mode: 'enforce',
  },
  // Latency of the spans carrying the flag; cohort "c" appears only in the second hour.
  { featureId: 'search', minCohortSize: 100, activation: { action: { attribute: { key: 'clicked', value: 'true' } } } },
]);
const OPTIONS: Omit<PartitionAggregatorOptions, 'partition'> = { rules: RULES };

interface Rec {
  offset: string;
  events: FeatureEvent[];
}

/** Users over 2 h: dashboard loads (treatment 300 ms slower), clicks, searches; 5 % late, some huge or fractional durations. */
function scenario(users: number): Map<number, Rec[]> {
  const rand = mulberry32(7);
  const byPartition = new Map<number, FeatureEvent[]>(Array.from({ length: PARTITIONS }, (_, p) => [p, []]));
  let n = 0;
  for (let i = 0; i < users; i++) {
    const user = `u${i}`;
    const at = T0 + Math.floor((i / users) * 2 * 3600_000);
    const late = () => (rand() < 0.05 ? Math.floor(rand() * 120_000) : 0);
    const span = (time: number, name: string, durationMs: number, flags: FeatureEvent['flags'] = [], attrs?: Record<string, string>): FeatureEvent => {
      const e: FeatureEvent = { user, time: time - late(), id: `s${n++}`, name, durationMs, flags, source: 'span', origin: 'web' };
      if (attrs) e.attrs = attrs;
      return e;
    };
    const cohort = i % 2 === 0 ? 'control' : 'treatment';
    const list = byPartition.get(i % PARTITIONS)!;
    list.push(span(at, 'recs.render', 5, [{ feature: 'recs', variant: cohort }]));
    for (let r = 0; r < 3; r++) list.push(span(at + 1000 + r * 40_000, 'GET /dashboard', 110 * Math.exp(0.25 * normal(rand)) + (cohort === 'treatment' ? 300 : 0)));
    if (rand() < 0.3) list.push(span(at + 100_000 + Math.floor(rand() * 400_000), 'recs.click', 3));
    const variant = at > T0 + 3600_000 && rand() < 0.3 ? 'c' : rand() < 0.5 ? 'a' : 'b';
    list.push(span(at + 5000, 'GET /search', rand() < 0.02 ? 1e10 : rand() * 400, [{ feature: 'search', variant }], rand() < 0.2 ? { clicked: 'true' } : undefined));
  }
  // Records of 1 to 40 events, in event-time order per partition (with the late ones among them).
  const out = new Map<number, Rec[]>();
  for (const [p, events] of byPartition) {
    events.sort((a, b) => a.time - b.time);
    const recs: Rec[] = [];
    for (let i = 0; i < events.length;) {
      const size = 1 + Math.floor(rand() * 40);
      recs.push({ offset: String(recs.length), events: events.slice(i, i + size) });
      i += size;
    }
    out.set(p, recs);
  }
  return out;
}

/** Format 1, as the aggregator wrote it before: one full JSON snapshot per ruled feature at each step crossed. */
function jsonSnapshots(partition: number, recs: Rec[]): FeaturePartial[] {
  const agg = new PartitionAggregator({ ...OPTIONS, partition });
  const stepAt = (w: number) => (w === Number.NEGATIVE_INFINITY ? w : Math.floor(w / STEP) * STEP);
  let last = Number.NEGATIVE_INFINITY;
  const out: FeaturePartial[] = [];
  for (const r of recs) {
    for (let i = 0; i < r.events.length; i++) {
      if (!agg.applyInRecord(r.events[i], r.offset, i === 0)) break;
      const step = stepAt(agg.watermark);
      if (step <= last) continue;
      last = step;
      const position: SnapshotPosition = i + 1 < r.events.length ? { offset: r.offset, recordEvents: i + 1 } : { offset: agg.nextOffset as string };
      const byFeature = new Map(toFeaturePartials(agg.snapshot().map((c) => ({ ...c, ...position }))).map((p) => [p.feature, p]));
      for (const feature of agg.ruleFeatures()) {
        out.push({ ...(byFeature.get(feature) ?? { feature, partition, ...position, watermark: agg.watermark, cohorts: [] }), step });
      }
    }
  }
  return out;
}

/**
 * Format 2 through the real processor: outputs taken after a random number of records; a crash
 * after `crashAt` records loses what was not taken and restarts from the checkpoint taken at
 * `checkpointAt` (outputs taken first, as the runner does), applying the records from there again.
 */
async function binaryRecords(partition: number, recs: Rec[], seed: number, crash?: { checkpointAt: number; crashAt: number }): Promise<Buffer[]> {
  const rand = mulberry32(seed);
  const factory = aggregatorProcessorFactory(TOPICS, STEP, () => OPTIONS);
  let proc = factory.create(partition) as AggregatorProcessor;
  const out: Buffer[] = [];
  const take = () => out.push(...proc.takeOutputs().flatMap((o) => o.records.map((r) => r.value)));
  let checkpoint: Buffer | undefined;
  for (let i = 0; i < recs.length; i++) {
    if (crash && i === crash.checkpointAt) {
      take();
      checkpoint = proc.serialize();
    }
    if (crash && i === crash.crashAt) {
      proc = (await factory.restore(partition, checkpoint!, [])) as AggregatorProcessor;
      for (let k = crash.checkpointAt; k < crash.crashAt; k++) {
        proc.applyEvents(recs[k].events, recs[k].offset);
        if (rand() < 0.2) take();
      }
    }
    proc.applyEvents(recs[i].events, recs[i].offset);
    if (rand() < 0.15) take();
  }
  take();
  return out;
}

/** Interleaves the partitions' records (each partition's order kept), as one cohort-stats partition receives them. */
function interleave(lists: Buffer[][], seed: number): Buffer[] {
  const rand = mulberry32(seed);
  const cursors = lists.map(() => 0);
  const out: Buffer[] = [];
  for (;;) {
    const open = lists.map((l, i) => i).filter((i) => cursors[i] < lists[i].length);
    if (open.length === 0) return out;
    const i = open[Math.floor(rand() * open.length)];
    out.push(lists[i][cursors[i]++]);
  }
}

/**
 * The verdict stage over these records; with `restart`, it restarts from its checkpoint at record
 * `at` and gets the last 5 records again. The checkpoint is the whole state (format 1, as older
 * versions wrote it), or incremental (format 2) taken every 7 records and at the restart into a
 * store, so the restore reads rows written at different times.
 */
async function verdictStage(records: Buffer[], restart?: { at: number; from: 'whole' | 'incremental' }): Promise<{ verdicts: Record<string, string[]>; commands: string[] }> {
  const clock = new ManualClock(0);
  const factory = verdictProcessorFactory(TOPICS, () => ({ rules: RULES, evaluator: createEvaluator(Config.parse({})), heartbeatMs: 3600_000, partitions: PARTITIONS }), commandKeyRing(['k'.repeat(32)]), clock, 3600_000);
  const store = new InMemoryCheckpointStore();
  let proc = factory.create(0);
  // Verdicts per feature, in order: the order the contract gives (a command goes out right after
  // its own feature's verdicts, so how features interleave depends on where the flushes fall).
  const verdicts: Record<string, string[]> = {};
  const commands: string[] = [];
  const take = () => {
    for (const o of proc.takeOutputs()) {
      for (const r of o.records) (o.topic === TOPICS.verdicts ? (verdicts[r.key] ??= []) : commands).push(r.value.toString('utf8'));
    }
  };
  for (let i = 0; i < records.length; i++) {
    if (restart?.from === 'incremental' && (i % 7 === 0 || i === restart.at) && i <= restart.at) {
      const cp = proc.checkpoint!(String(i));
      cp.settle(await store.save('verdict', 'in', { partition: 0, offset: String(i), state: cp.head, changes: cp.changes }));
    }
    if (i === restart?.at) {
      take();
      const stored = restart.from === 'whole' ? { state: proc.serialize(), parts: [] } : await store.load('verdict', 'in', 0);
      proc = await factory.restore(0, stored!.state, stored!.parts ?? []);
      for (let k = Math.max(0, i - 5); k < i; k++) proc.apply({ offset: String(k), key: null, value: records[k], timestamp: 0 } as never);
    }
    proc.apply({ offset: String(i), key: null, value: records[i], timestamp: 0 } as never);
  }
  take();
  return { verdicts, commands };
}

/** Each step's snapshot once (a restarted aggregator publishes some again, identical). */
function distinctSteps(list: FeaturePartial[]): FeaturePartial[] {
  const seen = new Map<string, FeaturePartial>();
  for (const p of list) {
    const key = `${p.feature}|${p.step}`;
    const before = seen.get(key);
    if (before) expect(p).toEqual(before);
    else seen.set(key, p);
  }
  return [...seen.values()];
}

describe('cohort-stats record formats', () => {
  const log = scenario(1500);
  const json = [...log].map(([p, recs]) => jsonSnapshots(p, recs));

  it('decodes binary records into exactly the JSON snapshots, steps grouped however the flushes fall', async () => {
    for (const [p, recs] of log) {
      const records = await binaryRecords(p, recs, 100 + p);
      const decoded = records.flatMap((r) => decodeCohortStats(r));
      // Most records hold several steps, so most snapshots travel as deltas.
      expect(records.length).toBeLessThan(decoded.length / 3);
      expect(decoded.some((s) => s.cohorts.some((c) => c.cohort === 'c'))).toBe(true);
      const byFeature = (list: FeaturePartial[], f: string) => list.filter((s) => s.feature === f);
      for (const f of ['recs', 'search']) expect(byFeature(decoded, f)).toEqual(byFeature(json[p], f));
      // Deltas are small: the binary records are a fraction of the JSON bytes.
      const jsonBytes = json[p].reduce((sum, s) => sum + encodeJson(s).length, 0);
      expect(records.reduce((sum, r) => sum + r.length, 0)).toBeLessThan(jsonBytes / 4);
    }
  });

  it('still reads format 1 (one JSON snapshot per record)', () => {
    const s = json[0][json[0].length - 1];
    expect(decodeCohortStats(encodeJson(s))).toEqual([s]);
  });

  it.each([
    ['no crash', undefined, undefined],
    ['an aggregator crash and a verdict-stage restart', { checkpointAt: 40, crashAt: 90 }, 'whole' as const],
    ['an aggregator crash and a verdict-stage restart from incremental checkpoints', { checkpointAt: 40, crashAt: 90 }, 'incremental' as const],
  ])('gives the same verdicts and commands as JSON snapshots (%s)', async (_name, crash, restartFrom) => {
    const jsonRecords = interleave(json.map((list) => list.map((s) => encodeJson(s))), 1);
    const binary = await Promise.all([...log].map(([p, recs]) => binaryRecords(p, recs, 200 + p, crash)));
    if (crash) {
      for (const [p, list] of binary.entries()) {
        const decoded = list.flatMap((r) => decodeCohortStats(r));
        expect(decoded.length).toBeGreaterThan(json[p].length); // the restart published some steps again
        for (const f of ['recs', 'search']) expect(distinctSteps(decoded.filter((s) => s.feature === f))).toEqual(json[p].filter((s) => s.feature === f));
      }
    }
    const binaryRecordsIn = interleave(binary, 2);
    const want = await verdictStage(jsonRecords);
    const got = await verdictStage(binaryRecordsIn, restartFrom === undefined ? undefined : { at: Math.floor(binaryRecordsIn.length / 2), from: restartFrom });
    expect(Object.values(want.verdicts).flat().length).toBeGreaterThan(10);
    expect(want.commands.length).toBe(1);
    expect(JSON.parse(want.commands[0])).toMatchObject({ cohort: 'treatment', action: 'rollback' });
    expect(got).toEqual(want);
  });

  it('the engine fed decoded snapshots matches the engine fed JSON ones, state included', async () => {
    const options = { rules: RULES, evaluator: createEvaluator(Config.parse({})), heartbeatMs: 3600_000, partitions: PARTITIONS };
    const a = new VerdictEngine(options);
    const b = new VerdictEngine({ ...options, evaluator: createEvaluator(Config.parse({})) });
    for (const r of interleave(json.map((list) => list.map((s) => encodeJson(s))), 3)) for (const s of decodeCohortStats(r)) a.apply(s);
    for (const r of interleave(await Promise.all([...log].map(([p, recs]) => binaryRecords(p, recs, 300 + p))), 3)) for (const s of decodeCohortStats(r)) b.apply(s);
    expect(JSON.parse(b.serialize().toString())).toEqual(JSON.parse(a.serialize().toString()));
  });
});

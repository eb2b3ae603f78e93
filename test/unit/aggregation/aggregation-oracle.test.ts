// PartitionAggregator against the independent oracle (test/helpers/aggregation-oracle.ts) on
// random streams with out-of-order and very late events, duplicates, re-delivered offsets,
// cohort switches, named-span latency and windows that mature and close mid-stream; and
// checkpoint / restore at a random point equals an uninterrupted run. f1 and f2 opt in to early
// activation counts (f3 too, but without an action it has none), so they are checked as well.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import type { FeatureEvent, FlagExposure } from '../../../src/events/feature-event.js';
import { oracleAggregate, type OracleRecord } from '../../helpers/aggregation-oracle.js';
import { GUARDED_F1, logicalStats, ruleSet } from './rules-fixture.js';

const RULES = ruleSet([
  GUARDED_F1,
  {
    featureId: 'f2',
    latencyP95Threshold: 100,
    activation: { action: { attribute: { key: 'step', value: 'done' } }, windowSeconds: 900, earlySeconds: 300 },
    retention: { returnAfterSeconds: 120, windowSeconds: 600 },
    latency: { spanName: 'req' },
  },
  { featureId: 'f3', activation: { earlySeconds: 100 }, retention: { returnAfterSeconds: 60, windowSeconds: 400 } },
]);

const OPTIONS = {
  partition: 7,
  rules: RULES,
  allowedLatenessMs: 60_000,
  lateGraceMs: 300_000,
  maxLatenessMs: 1_200_000,
  latencyJoinSlackMs: 30_000,
  sourceIdleMs: 120_000,
} satisfies PartitionAggregatorOptions;

const FLAGS: FlagExposure[] = [
  { feature: 'f1', variant: 'on' },
  { feature: 'f1', variant: 'off' },
  { feature: 'f1', variant: 'beta' },
  { feature: 'f2', variant: 'a' },
  { feature: 'f2', variant: 'b' },
  { feature: 'f3', variant: 'x' },
  { feature: 'nope', variant: 'z' },
];

const opArb = fc.record({
  kind: fc.constantFrom('new', 'new', 'new', 'new', 'new', 'new', 'dup', 'replay'),
  user: fc.nat({ max: 4 }),
  // Whole 10 s steps make window ends, watermarks and event times coincide often (boundaries).
  step: fc.oneof(
    { weight: 20, arbitrary: fc.nat({ max: 9 }).map((k) => k * 10_000) },
    { weight: 1, arbitrary: fc.nat({ max: 90_000 }) },
  ),
  // Mostly in order; sometimes late within the allowed lateness, sometimes far beyond it.
  lateness: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.nat({ max: 12 }).map((k) => k * 10_000) },
    { weight: 1, arbitrary: fc.nat({ max: 120_000 }) },
    { weight: 1, arbitrary: fc.nat({ max: 1_500_000 }) },
  ),
  name: fc.constantFrom('act', 'req', 'page', 'other'),
  flags: fc.subarray(FLAGS, { maxLength: 2 }),
  duration: fc.option(
    fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: 0, max: 2000 }).map((ms) => ms + 0.25) },
      { weight: 1, arbitrary: fc.constantFrom(-3, 300, 100) },
    ),
    { nil: undefined },
  ),
  step2: fc.boolean(),
  pick: fc.nat(),
  // Several senders per partition: none (the shared origin), a regular one, and one whose clock
  // runs 15 minutes ahead, so the watermark must follow the slowest live origin.
  origin: fc.constantFrom(undefined, undefined, 'svc-a', 'svc-fast'),
});

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

const aliasUser = (u: number) => `u${u}`;
/** Pseudonyms (32 hex digits, the receiver's form) that differ only in their low bits. */
const hexUser = (u: number) => u.toString(16).padStart(32, '0');

function buildRecords(ops: Op[], userName: (u: number) => string = aliasUser): OracleRecord[] {
  const records: OracleRecord[] = [];
  let clock = 1_700_000_000_000;
  let offset = 0;
  let n = 0;
  for (const op of ops) {
    clock += op.step;
    if (op.kind === 'replay' && records.length > 0) {
      records.push(records[op.pick % records.length]); // same offset again: a re-delivery
      continue;
    }
    if (op.kind === 'dup' && records.length > 0) {
      records.push({ event: records[op.pick % records.length].event, offset: String(offset++) }); // exporter resend
      continue;
    }
    const event: FeatureEvent = {
      user: userName(op.user),
      time: clock - op.lateness + (op.origin === 'svc-fast' ? 900_000 : 0),
      id: `trace${n++}`,
      name: op.name,
      flags: op.flags,
      source: 'span',
      ...(op.origin !== undefined ? { origin: op.origin } : {}),
      ...(op.duration !== undefined ? { durationMs: op.duration } : {}),
      ...(op.step2 ? { attrs: { step: 'done' } } : {}),
    };
    records.push({ event, offset: String(offset++) });
  }
  return records;
}

const streamArb = fc.array(opArb, { minLength: 1, maxLength: 300, size: 'large' });

describe('PartitionAggregator vs the oracle', () => {
  it('snapshots and counters equal an independent recomputation', () => {
    fc.assert(
      fc.property(streamArb, (ops) => {
        const records = buildRecords(ops);
        const agg = new PartitionAggregator(OPTIONS);
        for (const r of records) agg.apply(r.event, r.offset);
        const oracle = oracleAggregate(records, OPTIONS);
        expect(agg.snapshot()).toEqual(oracle.partials);
        const s = agg.stats();
        expect({
          events: s.events,
          duplicates: s.duplicates,
          tooLate: s.tooLate,
          lateEvents: s.lateEvents,
          untracked: s.untracked,
          replayedRecords: s.replayedRecords,
        }).toEqual({
          events: oracle.events,
          duplicates: oracle.duplicates,
          tooLate: oracle.tooLate,
          lateEvents: oracle.lateEvents,
          untracked: oracle.untracked,
          replayedRecords: oracle.replayedRecords,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('checkpoint + restore + replay of the rest equals an uninterrupted run, byte for byte', () => {
    fc.assert(
      fc.property(streamArb, fc.nat(), (ops, cut) => {
        const records = buildRecords(ops);
        const at = cut % (records.length + 1);
        const whole = new PartitionAggregator(OPTIONS);
        for (const r of records) whole.apply(r.event, r.offset);

        const first = new PartitionAggregator(OPTIONS);
        for (const r of records.slice(0, at)) first.apply(r.event, r.offset);
        const checkpoint = first.serialize();
        // A crash after the checkpoint: records past it were applied to the lost instance only.
        for (const r of records.slice(at)) first.apply(r.event, r.offset);
        const restored = PartitionAggregator.restore(checkpoint, OPTIONS);
        for (const r of records.slice(at)) restored.apply(r.event, r.offset);

        expect(restored.serialize().equals(whole.serialize())).toBe(true);
        expect(JSON.stringify(restored.snapshot())).toBe(JSON.stringify(whole.snapshot()));
        expect(logicalStats(restored)).toEqual(logicalStats(whole));
      }),
      { numRuns: 200 },
    );
  });

  it('re-applying an already applied suffix (redelivery without restore) changes nothing but the replay counter', () => {
    fc.assert(
      fc.property(streamArb, fc.nat(), (ops, cut) => {
        const records = buildRecords(ops);
        const at = cut % (records.length + 1);
        const once = new PartitionAggregator(OPTIONS);
        for (const r of records) once.apply(r.event, r.offset);
        const again = new PartitionAggregator(OPTIONS);
        for (const r of [...records, ...records.slice(at)]) again.apply(r.event, r.offset);
        expect(again.snapshot()).toEqual(once.snapshot());
        expect(again.stats().replayedRecords).toBe(once.stats().replayedRecords + records.length - at);
      }),
      { numRuns: 100 },
    );
  });
});

describe('PartitionAggregator vs the oracle, many pseudonymous users', () => {
  const manyUsers = fc.array(
    opArb.chain((op) => fc.nat({ max: 80 }).map((user) => ({ ...op, user }))),
    { minLength: 1, maxLength: 600, size: 'large' },
  );

  it('snapshots equal the recomputation, and a restore anywhere replays to the same bytes', () => {
    fc.assert(
      fc.property(manyUsers, fc.nat(), (ops, cut) => {
        const records = buildRecords(ops, hexUser);
        const whole = new PartitionAggregator(OPTIONS);
        for (const r of records) whole.apply(r.event, r.offset);
        expect(whole.snapshot()).toEqual(oracleAggregate(records, OPTIONS).partials);

        const at = cut % (records.length + 1);
        const first = new PartitionAggregator(OPTIONS);
        for (const r of records.slice(0, at)) first.apply(r.event, r.offset);
        const restored = PartitionAggregator.restore(first.serialize(), OPTIONS);
        for (const r of records.slice(at)) restored.apply(r.event, r.offset);
        expect(restored.serialize().equals(whole.serialize())).toBe(true);
        expect(logicalStats(restored)).toEqual(logicalStats(whole));
      }),
      { numRuns: 150 },
    );
  });
});

describe('PartitionAggregator state compaction', () => {
  it('a restore before the store compacts replays to the same bytes and the same aggregates', () => {
    // 90,000 users exposed within 900 s, 4,000 more around 1,500 s, then the watermark moves to
    // 2,640 s, past every window + grace of the first population: most handles are free, the
    // store compacts in the middle of the replayed suffix.
    const records: OracleRecord[] = [];
    const t0 = 1_700_000_000_000;
    const push = (event: FeatureEvent) => records.push({ event, offset: String(records.length) });
    for (let u = 0; u < 90_000; u++) {
      push({ user: hexUser(u * 2654435761), time: t0 + u * 10, id: `a${u}`, name: 'page', flags: [FLAGS[u % 6]], source: 'span', durationMs: u % 500 });
    }
    for (let u = 0; u < 4_000; u++) {
      push({ user: hexUser(u * 40503 + 7), time: t0 + 1_500_000 + u * 10, id: `b${u}`, name: 'req', flags: [FLAGS[u % 6]], source: 'span', durationMs: u % 300 });
    }
    const cut = records.length;
    for (let k = 0; k < 400; k++) {
      push({ user: hexUser(k * 40503 + 7), time: t0 + 2_300_000 + k * 1000, id: `late${k}`, name: 'act', flags: [], source: 'span', attrs: { step: 'done' } });
    }
    const whole = new PartitionAggregator(OPTIONS);
    for (const r of records) whole.apply(r.event, r.offset);
    expect(whole.stats().evictedUsers).toBeGreaterThan(70_000);
    expect(whole.snapshot()).toEqual(oracleAggregate(records, OPTIONS).partials);

    const first = new PartitionAggregator(OPTIONS);
    for (const r of records.slice(0, cut)) first.apply(r.event, r.offset);
    const restored = PartitionAggregator.restore(first.serialize(), OPTIONS);
    for (const r of records.slice(cut)) restored.apply(r.event, r.offset);
    expect(restored.serialize().equals(whole.serialize())).toBe(true);
    expect(whole.stats().stateBytes).toBeLessThan(first.stats().stateBytes / 2);
  });
});

// Early activation counts (rule activation.earlySeconds = L) at the aggregator, by hand: a user is
// reached once the watermark passes first exposure + L, a success when an action in
// [first exposure, first exposure + L] was applied; out-of-order actions, the landmark boundary,
// a late action after the landmark matured, a restore from an incremental checkpoint mid-way, and
// a rule that opts in while users are live, and checkpoints written before early counts existed
// (test/fixtures/checkpoint-before-early.json, written by the previous aggregator). Every case is
// also checked against the oracle.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AggregatorCheckpointer } from '../../../src/aggregation/aggregator-checkpoint.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { InMemoryCheckpointStore } from '../../../src/stream/checkpoint-store.js';
import { oracleAggregate, type OracleRecord } from '../../helpers/aggregation-oracle.js';
import { ruleSet } from './rules-fixture.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000;
const L = 20 * MIN;

// Activation window 1 h, landmark 20 min, no allowed lateness, 30 min grace.
const rules = (earlySeconds?: number) =>
  ruleSet([
    {
      featureId: 'f',
      activation: { action: { spanName: 'buy' }, windowSeconds: 3600, ...(earlySeconds === undefined ? {} : { earlySeconds }) },
      retention: { returnAfterSeconds: 3600, windowSeconds: 2 * 3600 },
    },
  ]);
const OPTIONS = { partition: 0, rules: rules(L / 1000), allowedLatenessMs: 0, lateGraceMs: 30 * MIN } satisfies PartitionAggregatorOptions;

let n = 0;
const expose = (user: string, at: number): FeatureEvent => ({ user, time: T0 + at, id: `e${n++}`, name: 'page', flags: [{ feature: 'f', variant: 'on' }], source: 'span' });
const buy = (user: string, at: number): FeatureEvent => ({ user, time: T0 + at, id: `e${n++}`, name: 'buy', flags: [], source: 'span' });
/** Another user's span: moves the watermark to T0 + at. */
const tick = (at: number): FeatureEvent => ({ user: 'clock', time: T0 + at, id: `e${n++}`, name: 'page', flags: [], source: 'span' });

class Run {
  readonly records: OracleRecord[] = [];
  constructor(
    public agg = new PartitionAggregator(OPTIONS),
    readonly options: PartitionAggregatorOptions = OPTIONS,
  ) {}
  feed(...events: FeatureEvent[]): this {
    for (const event of events) {
      const offset = String(this.records.length);
      this.records.push({ event, offset });
      this.agg.apply(event, offset);
    }
    return this;
  }
  get cohort(): CohortPartial {
    return this.agg.snapshot()[0];
  }
  /** The aggregator's snapshot is the oracle's recomputation from the records. */
  checkOracle(): this {
    expect(this.agg.snapshot()).toEqual(oracleAggregate(this.records, { ...this.options, rules: this.options.rules }).partials);
    return this;
  }
}

describe('early activation counts', () => {
  it('counts a user at the landmark, an action at the landmark as a success and one just after it as none', () => {
    const r = new Run().feed(expose('a', 0), expose('b', 0), expose('c', 0), tick(L - 1));
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 0, successes: 0, maturedSuccesses: 0 });
    r.feed(buy('a', L)); // at the landmark exactly: the same event matures it
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 3, successes: 1, maturedSuccesses: 0 });
    r.feed(buy('b', L + 1)); // just after: an activation, not an early one
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 3, successes: 1, maturedSuccesses: 0 });
    r.feed(tick(60 * MIN));
    // Matured: a activated by the landmark, b after it.
    expect(r.cohort.activation).toEqual({ matured: 3, successes: 2, early: { afterMs: L, reached: 3, successes: 1, maturedSuccesses: 1 } });
    r.checkOracle();
  });

  it('applies an action that arrives after the landmark matured while the activation window is open for late data', () => {
    const r = new Run().feed(expose('a', 0), expose('b', 0), tick(L + 5 * MIN));
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 2, successes: 0, maturedSuccesses: 0 });
    r.feed(buy('a', 5 * MIN)); // late for the landmark, in time for the window
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 2, successes: 1, maturedSuccesses: 0 });
    expect(r.agg.stats().lateApplied).toBe(1);
    r.feed(tick(60 * MIN + 31 * MIN), buy('b', 5 * MIN)); // past the window's end + grace: ignored, counted once
    expect(r.cohort.activation).toEqual({ matured: 2, successes: 1, early: { afterMs: L, reached: 2, successes: 1, maturedSuccesses: 1 } });
    expect(r.agg.stats()).toMatchObject({ lateApplied: 1, lateIgnored: 1 });
    r.checkOracle();
  });

  it('an early action applied late, after its user matured, also counts among the matured early successes', () => {
    const r = new Run().feed(expose('a', 0), expose('b', 0), tick(61 * MIN));
    expect(r.cohort.activation).toEqual({ matured: 2, successes: 0, early: { afterMs: L, reached: 2, successes: 0, maturedSuccesses: 0 } });
    r.feed(buy('a', 5 * MIN)); // past the window's end, within its grace
    expect(r.cohort.activation).toEqual({ matured: 2, successes: 1, early: { afterMs: L, reached: 2, successes: 1, maturedSuccesses: 1 } });
    r.checkOracle();
  });

  it('out of order: an action that arrives before its exposure, or dated before it, counts for neither the landmark nor the window', () => {
    const r = new Run().feed(
      tick(10 * MIN),
      buy('a', 12 * MIN), // a's exposure at 11 min is still on its way
      expose('a', 11 * MIN),
      expose('b', 10 * MIN),
      buy('b', 9 * MIN), // dated before b's exposure
      expose('c', 10 * MIN),
      buy('c', 15 * MIN),
      buy('c', 14 * MIN), // an earlier action arriving later: still one success
      tick(80 * MIN),
    );
    expect(r.cohort.activation).toEqual({ matured: 3, successes: 1, early: { afterMs: L, reached: 3, successes: 1, maturedSuccesses: 1 } });
    r.checkOracle();
  });

  it('a late exposure whose landmark has already passed is reached at once; its own span may be the action', () => {
    const r = new Run().feed(tick(40 * MIN), { ...buy('a', 5 * MIN), flags: [{ feature: 'f', variant: 'on' }] }, expose('b', 5 * MIN));
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 2, successes: 1, maturedSuccesses: 0 });
    r.checkOracle();
  });

  it('a restore from an incremental checkpoint mid-way goes on exactly like the uninterrupted run', async () => {
    const events = [expose('a', 0), expose('b', 0), expose('c', 2 * MIN), buy('c', 3 * MIN), tick(L + MIN), buy('a', 10 * MIN), buy('b', L + 2 * MIN), tick(90 * MIN), buy('c', 4 * MIN)];
    const whole = new Run().feed(...events);
    for (let cut = 1; cut < events.length; cut++) {
      const first = new Run().feed(...events.slice(0, cut));
      const store = new InMemoryCheckpointStore();
      const cp = AggregatorCheckpointer.fresh(first.agg).take(first.agg, String(cut));
      expect(await store.save('aggregator', 'events', { partition: 0, offset: String(cut), state: cp.head, changes: cp.changes })).toBe(true);
      const loaded = await store.load('aggregator', 'events', 0);
      const restored = AggregatorCheckpointer.restore(loaded!.state, loaded!.parts!, OPTIONS).aggregator;
      events.slice(cut).forEach((e, i) => restored.apply(e, String(cut + i)));
      expect(restored.serialize().equals(whole.agg.serialize()), `cut at ${cut}`).toBe(true);
      expect(restored.snapshot()).toEqual(whole.agg.snapshot());
    }
    expect(whole.cohort.activation.early).toEqual({ afterMs: L, reached: 3, successes: 2, maturedSuccesses: 2 });
    whole.checkOracle();
  });

  it('counts at the default landmark (half the window) without earlySeconds, and a landmark set while users are live counts only the users exposed after it', () => {
    const plain = { ...OPTIONS, rules: rules() };
    const r = new Run(new PartitionAggregator(plain), plain).feed(expose('a', 0), buy('a', MIN), tick(2 * L));
    expect(r.cohort.activation.early).toEqual({ afterMs: 30 * MIN, reached: 1, successes: 1, maturedSuccesses: 0 });
    r.checkOracle();
    r.agg.setRules(rules(L / 1000));
    r.feed(expose('b', 2 * L), buy('b', 2 * L + MIN), tick(3 * L + MIN));
    // a was live when the landmark was set (its early history is unknown to the counts): left out,
    // and the matured early successes are unknown for good (a matured without an early outcome).
    expect(r.cohort.activation.early).toEqual({ afterMs: L, reached: 1, successes: 1 });
    // The same with the whole-state codec in between: the decision is part of the state.
    const back = PartitionAggregator.restore(r.agg.serialize(), OPTIONS);
    expect(back.snapshot()).toEqual(r.agg.snapshot());
  });

  it('restores a checkpoint written before early counts (whole state and incremental): its live users are left out, later ones counted', () => {
    const old = JSON.parse(readFileSync('test/fixtures/checkpoint-before-early.json', 'utf8')) as {
      whole: string;
      head: string;
      parts: { part: number; seq: string; data: string }[];
    };
    const parts = old.parts.map((p) => ({ part: p.part, seq: p.seq, data: Buffer.from(p.data, 'base64') }));
    const fromWhole = PartitionAggregator.restore(Buffer.from(old.whole, 'base64'), OPTIONS);
    const fromParts = AggregatorCheckpointer.restore(Buffer.from(old.head, 'base64'), parts, OPTIONS).aggregator;
    expect(fromParts.serialize().equals(fromWhole.serialize())).toBe(true);
    for (const agg of [fromWhole, fromParts]) {
      // a and b (exposed at T0, a bought at 5 min) were live in the old state.
      const later = [expose('c', 10 * MIN), buy('c', 11 * MIN), tick(40 * MIN)];
      later.forEach((e, i) => agg.apply(e, String(3 + i)));
      expect(agg.snapshot()[0].activation.early).toEqual({ afterMs: L, reached: 1, successes: 1 });
      agg.apply(tick(75 * MIN), '6');
      expect(agg.snapshot()[0].activation).toEqual({ matured: 3, successes: 2, early: { afterMs: L, reached: 1, successes: 1 } });
    }
  });
});

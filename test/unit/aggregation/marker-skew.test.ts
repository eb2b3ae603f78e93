// Watermark markers against a source whose clock runs 30 minutes ahead. A marker stands for the
// events its receiver published: per source, up to the time it names. It must never move a
// partition's watermark further, or hold it back less, than those events would if they had come
// to the partition. A marker on a partition that was quiet while event time moved more than
// sourceIdleSeconds names both sources at once: applied mark by mark, the fast source's mark moved
// the partition's newest time first, the steady source (named in the same marker, so sending all
// along) looked idle for that moment, and the watermark, which never moves back, jumped to the
// fast source's time minus the allowed lateness (one CI run of the e2e late-clients test, with marks
// applied one by one, measured 721 s held back on a partition where at least the 30 min skew was due).

import { describe, expect, it } from 'vitest';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import type { SourceMark } from '../../../src/events/watermark-marker.js';
import { oracleAggregate, type OracleMarker, type OracleRecord } from '../../helpers/aggregation-oracle.js';
import { mulberry32 } from '../../helpers/prng.js';
import { ruleSet } from './rules-fixture.js';

const MIN = 60_000;
const SKEW = 30 * MIN;
const T0 = Date.UTC(2026, 10, 1);
const RULES = ruleSet([{ featureId: 'recs', activation: { action: { spanName: 'click' }, windowSeconds: 3600 }, cohorts: { control: 'control' } }]);
const OPTIONS = { partition: 0, rules: RULES, allowedLatenessMs: 5 * MIN, sourceIdleMs: 15 * MIN } satisfies PartitionAggregatorOptions;

const event = (origin: string, time: number, n: number): FeatureEvent => ({ user: `u${n}`, time, id: `${origin}-${n}`, name: 'page', flags: [], source: 'span', origin });

/** Real minute r: the fast source (stamped 30 min later) and the steady one each send one event. */
function minute(r: number): FeatureEvent[] {
  return [event('fast', T0 + r * MIN + SKEW, 2 * r), event('steady', T0 + r * MIN, 2 * r + 1)];
}
const minutes = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => minute(from + i)).flat();

type Item = FeatureEvent | readonly SourceMark[];

/** An aggregator fed item by item, and the same items as the oracle's records. */
function feed() {
  const agg = new PartitionAggregator(OPTIONS);
  const records: (OracleRecord | OracleMarker)[] = [];
  return {
    agg,
    push(item: Item) {
      const offset = String(records.length);
      if (Array.isArray(item)) {
        const marks = item as readonly SourceMark[];
        agg.applyMarker(marks, offset);
        records.push({ marks, offset });
      } else {
        agg.apply(item as FeatureEvent, offset);
        records.push({ event: item as FeatureEvent, offset });
      }
    },
    /** The independent recomputation applies markers by the same rule. */
    checkOracle: () => expect(agg.snapshot()).toEqual(oracleAggregate(records, OPTIONS).partials),
  };
}

function run(items: readonly Item[]) {
  const f = feed();
  for (const item of items) f.push(item);
  f.checkOracle();
  const s = f.agg.stats();
  return { watermark: s.watermark!, heldBack: s.maxEventTime! - s.watermark! };
}

describe('a watermark marker and a source whose clock runs 30 minutes ahead', () => {
  // The partition hears both sources for 30 real minutes, then nothing for 20 (more than
  // sourceIdleSeconds of event time), then the receiver's marker: each source's latest time.
  const before = minutes(0, 30);
  const real = run([...before, ...minutes(31, 50)]);

  it('with the real events, the steady source holds the watermark: held back by the skew plus the lateness', () => {
    expect(real.watermark).toBe(T0 + 50 * MIN - 5 * MIN);
    expect(real.heldBack).toBe(SKEW + 5 * MIN);
  });

  for (const order of [['steady', 'fast'], ['fast', 'steady']]) {
    it(`a marker naming ${order.join(' then ')} holds it back exactly as far as the events it stands for`, () => {
      const latest: Record<string, number> = { steady: T0 + 50 * MIN, fast: T0 + 50 * MIN + SKEW };
      const marked = run([...before, order.map((origin) => ({ origin, time: latest[origin] }))]);
      expect(marked.heldBack).toBeGreaterThanOrEqual(SKEW);
      expect(marked.watermark).toBe(real.watermark);
    });
  }

  it('a marker naming only the fast source (the steady one silent at the receiver) lets the steady one go idle, as the fast events alone would', () => {
    const onlyFast = minutes(31, 50).filter((e) => e.origin === 'fast');
    const withEvents = run([...before, ...onlyFast]);
    const marked = run([...before, [{ origin: 'fast', time: T0 + 50 * MIN + SKEW }]]);
    expect(marked.watermark).toBe(withEvents.watermark);
    expect(marked.watermark).toBe(T0 + 50 * MIN + SKEW - 5 * MIN);
  });

  it('never moves the watermark past the events it stands for, whatever the sources, skews, gaps and mark order', () => {
    const rand = mulberry32(21);
    for (let round = 0; round < 200; round++) {
      // Up to 4 sources, each skewed 0-40 min, sending in real-time order; the partition gets some
      // events themselves, and now and then a marker in place of the others sent since the last
      // one. The reference log has, in each marker's place, the events it stands for.
      const skews = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 40) * MIN);
      const marked = feed();
      const reference = feed();
      let pending: FeatureEvent[] = [];
      let n = 0;
      for (let r = 0; r < 120; r++) {
        const sent = skews.map((skew, s) => event(`s${s}`, T0 + r * MIN + skew, n++)).filter(() => rand() < 0.7);
        for (const e of sent.sort(() => rand() - 0.5)) {
          if (rand() < 0.6) {
            pending.push(e);
          } else {
            marked.push(e);
            reference.push(e);
          }
        }
        if (rand() < 0.08 && pending.length > 0) {
          const latest = new Map<string, number>();
          for (const e of pending) latest.set(e.origin!, Math.max(latest.get(e.origin!) ?? -Infinity, e.time));
          marked.push([...latest].map(([origin, time]) => ({ origin, time })).sort(() => rand() - 0.5));
          for (const e of pending) reference.push(e);
          pending = [];
        }
        expect(marked.agg.watermark, `round ${round}, minute ${r}`).toBeLessThanOrEqual(reference.agg.watermark);
      }
      if (round % 20 === 0) marked.checkOracle();
    }
  });
});

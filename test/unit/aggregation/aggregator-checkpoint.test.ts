// Incremental checkpoints of the partition aggregator: after any sequence of saves (some lost,
// some refused), the head plus the stored part rows restore a state that serializes byte for
// byte like the live one, and a restored aggregator goes on exactly like an uninterrupted run.
// Also: a save writes what changed, not the whole state.

import { describe, expect, it } from 'vitest';
import { AggregatorCheckpointer, PART_FIRST_CHUNK } from '../../../src/aggregation/aggregator-checkpoint.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../../../src/aggregation/partition-aggregator.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { InMemoryCheckpointStore } from '../../../src/stream/checkpoint-store.js';
import { mulberry32 as rng } from '../../helpers/prng.js';
import { GUARDED_F1, ruleSet } from './rules-fixture.js';

const RULES = ruleSet([
  GUARDED_F1,
  { featureId: 'f2', retention: { returnAfterSeconds: 60, windowSeconds: 400 } },
]);

/** Small FIFO caps, so the dedupe window and the markers shift while the test runs. */
const OPTIONS = {
  partition: 4,
  rules: RULES,
  allowedLatenessMs: 60_000,
  lateGraceMs: 120_000,
  maxDedupeEntries: 300,
  maxRetiredUsers: 200,
} satisfies PartitionAggregatorOptions;

function events(seed: number, count: number): FeatureEvent[] {
  const r = rng(seed);
  const out: FeatureEvent[] = [];
  let clock = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    clock += Math.floor(r() * 4000);
    const u = Math.floor(r() * 400);
    // Pseudonyms mostly; some raw ids (alias users, whose id is kept beside the state).
    const user = u % 9 === 0 ? `user-${u}` : u.toString(16).padStart(32, '0');
    const flags = r() < 0.5 ? [{ feature: r() < 0.6 ? 'f1' : 'f2', variant: r() < 0.5 ? 'on' : 'off' }] : [];
    const resend = r() < 0.05 && out.length > 0;
    out.push(resend ? out[Math.floor(r() * out.length)] : {
      user,
      time: clock - Math.floor(r() * 30_000),
      id: `t${i}`,
      name: r() < 0.3 ? 'act' : 'page',
      flags,
      source: 'span',
      ...(r() < 0.4 ? { durationMs: Math.floor(r() * 600) } : {}),
    });
  }
  return out;
}

async function restore(store: InMemoryCheckpointStore) {
  const cp = await store.load('aggregator', 'events', OPTIONS.partition);
  return AggregatorCheckpointer.restore(cp!.state, cp!.parts!, OPTIONS);
}

describe('incremental aggregator checkpoints', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`restore after saves, lost saves and refused saves equals the live state (seed ${seed})`, async () => {
      const evs = events(seed, 3000);
      const r = rng(seed * 7919);
      const store = new InMemoryCheckpointStore();
      let agg = new PartitionAggregator(OPTIONS);
      let cpr = AggregatorCheckpointer.fresh(agg);
      let saves = 0;
      for (let i = 0; i < evs.length; i++) {
        agg.apply(evs[i], String(i));
        if (r() > 0.03 && i !== evs.length - 1) continue;
        const offset = String(i + 1);
        const cp = cpr.take(agg, offset);
        const last = i === evs.length - 1;
        const fate = last ? 0.5 : r();
        if (fate < 0.15) {
          cp.settle(false); // the save failed (never reached the store)
          continue;
        }
        const saved = await store.save('aggregator', 'events', { partition: OPTIONS.partition, offset, state: cp.head, changes: cp.changes });
        cp.settle(saved);
        saves++;
        const back = await restore(store);
        expect(back.aggregator.serialize().equals(agg.serialize()), `restore at offset ${offset}`).toBe(true);
        if (fate > 0.9) {
          // Continue from the restored copy (as a new owner would) instead of the live one.
          agg = back.aggregator;
          cpr = back.checkpointer;
        }
      }
      expect(saves).toBeGreaterThan(10);
      const whole = new PartitionAggregator(OPTIONS);
      evs.forEach((e, i) => whole.apply(e, String(i)));
      const final = await restore(store);
      expect(final.aggregator.serialize().equals(whole.serialize())).toBe(true);
      expect(final.aggregator.stats().retiredUsers).toBeGreaterThan(0);
    });
  }

  it('a restore in slices gives the state of a restore in one piece, and its checkpointer goes on the same', async () => {
    const evs = events(11, 3000);
    const store = new InMemoryCheckpointStore();
    const agg = new PartitionAggregator(OPTIONS);
    const cpr = AggregatorCheckpointer.fresh(agg);
    for (let i = 0; i < evs.length; i++) {
      agg.apply(evs[i], String(i));
      if (i % 500 !== 499) continue;
      const cp = cpr.take(agg, String(i + 1));
      cp.settle(await store.save('aggregator', 'events', { partition: OPTIONS.partition, offset: String(i + 1), state: cp.head, changes: cp.changes }));
    }
    const cp = await store.load('aggregator', 'events', OPTIONS.partition);
    let pauses = 0;
    const sliced = await AggregatorCheckpointer.restoreSliced(cp!.state, cp!.parts!, OPTIONS, 0, async () => {
      pauses++;
      await new Promise((resolve) => setImmediate(resolve));
    });
    const whole = AggregatorCheckpointer.restore(cp!.state, cp!.parts!, OPTIONS);
    expect(pauses).toBeGreaterThan(cp!.parts!.length);
    expect(sliced.aggregator.serialize().equals(whole.aggregator.serialize())).toBe(true);
    expect(sliced.aggregator.serialize().equals(agg.serialize())).toBe(true);
    // Both go on alike: the same records applied, the same next checkpoint.
    for (const [k, e] of events(12, 300).entries()) {
      sliced.aggregator.apply(e, String(evs.length + k));
      whole.aggregator.apply(e, String(evs.length + k));
    }
    const next = String(evs.length + 300);
    const a = sliced.checkpointer.take(sliced.aggregator, next);
    const b = whole.checkpointer.take(whole.aggregator, next);
    expect(a.head.equals(b.head)).toBe(true);
    expect(a.changes).toEqual(b.changes);
  });

  it('a restore in slices ends with the error of a failed pause', async () => {
    const store = new InMemoryCheckpointStore();
    const agg = new PartitionAggregator(OPTIONS);
    events(13, 1000).forEach((e, i) => agg.apply(e, String(i)));
    const cp = AggregatorCheckpointer.fresh(agg).take(agg, '1000');
    await store.save('aggregator', 'events', { partition: OPTIONS.partition, offset: '1000', state: cp.head, changes: cp.changes });
    const loaded = await store.load('aggregator', 'events', OPTIONS.partition);
    let pauses = 0;
    const lost = new Error('rebalance in progress');
    const restoring = AggregatorCheckpointer.restoreSliced(loaded!.state, loaded!.parts!, OPTIONS, 0, async () => {
      if (++pauses === 2) throw lost;
    });
    await expect(restoring).rejects.toBe(lost);
    expect(pauses).toBe(2); // no step after the failed pause
  });

  it('a save at an offset already saved is refused and changes nothing', async () => {
    const store = new InMemoryCheckpointStore();
    const agg = new PartitionAggregator(OPTIONS);
    const evs = events(9, 200);
    evs.forEach((e, i) => agg.apply(e, String(i)));
    const cpr = AggregatorCheckpointer.fresh(agg);
    const first = cpr.take(agg, '200');
    expect(await store.save('aggregator', 'events', { partition: 4, offset: '200', state: first.head, changes: first.changes })).toBe(true);
    first.settle(true);
    const before = await store.load('aggregator', 'events', 4);
    const zombie = AggregatorCheckpointer.fresh(agg).take(agg, '200');
    expect(await store.save('aggregator', 'events', { partition: 4, offset: '200', state: zombie.head, changes: { put: [], drop: [{ part: PART_FIRST_CHUNK }] } })).toBe(false);
    expect(await store.load('aggregator', 'events', 4)).toEqual(before);
  });

  it('writes the changed records, not the whole state', () => {
    const agg = new PartitionAggregator({ ...OPTIONS, maxDedupeEntries: 1_000_000, maxRetiredUsers: 1_000_000, lateGraceMs: 86_400_000 });
    const cpr = AggregatorCheckpointer.fresh(agg);
    const user = (u: number) => u.toString(16).padStart(32, '0');
    let offset = 0;
    for (let u = 0; u < 20_000; u++) agg.apply({ user: user(u), time: 1_700_000_000_000 + u, id: `e${u}`, name: 'page', flags: [{ feature: 'f1', variant: 'on' }], source: 'span' }, String(offset++));
    const bytes = (cp: ReturnType<typeof cpr.take>) => cp.head.length + cp.changes.put.reduce((s, p) => s + p.data.length, 0);
    const full = cpr.take(agg, String(offset));
    full.settle(true);
    // 100 users act: 100 records change, plus 100 dedupe ids.
    for (let u = 0; u < 100; u++) agg.apply({ user: user(u * 37), time: 1_700_000_020_000 + u, id: `a${u}`, name: 'act', flags: [], source: 'span' }, String(offset++));
    const delta = cpr.take(agg, String(offset));
    expect(bytes(full)).toBeGreaterThan(20_000 * 37);
    expect(bytes(delta)).toBeLessThan(100 * (37 + 4 + 16) + delta.head.length + 200);
    expect(delta.head.length).toBeLessThan(4096);
  });
});

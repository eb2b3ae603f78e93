// The SQL checkpoint store on both drivers: head and part rows saved in one transaction and
// loaded in order; a save at or behind the stored offset is refused and leaves every row as it
// was; and an aggregator's incremental checkpoints, saved over a run with compactions, restore to
// the live state byte for byte.

import { afterAll, describe, expect, it } from 'vitest';
import { AggregatorCheckpointer } from '../../../src/aggregation/aggregator-checkpoint.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { SqlCheckpointStore } from '../../../src/store/sql-checkpoint-store.js';
import { ruleSet } from '../../unit/aggregation/rules-fixture.js';
import { openMigratedStore, pgDriver, pgliteDriver, type StoreDriver } from '../flags/flag-store-fixture.js';

const b = (s: string) => Buffer.from(s);
const RULES = ruleSet([{ featureId: 'f1', activation: { action: { spanName: 'act' }, windowSeconds: 600 }, retention: { returnAfterSeconds: 60, windowSeconds: 900 } }]);

for (const driver of [pgDriver, pgliteDriver()] as StoreDriver[]) {
  describe(`SQL checkpoint store on ${driver.name}`, () => {
    afterAll(() => driver.dispose?.());

    it('saves a head with part changes atomically, refuses an offset it has, and loads parts in order', async () => {
      const db = await openMigratedStore(driver);
      try {
        const store = new SqlCheckpointStore(db.sql, db.schema);
        expect(await store.load('agg', 't', 0)).toBeNull();
        const put = [
          { part: 2, seq: '10', data: b('c2@10') },
          { part: 0, seq: '5', data: b('f@5') },
          { part: 2, seq: '9', data: b('c2@9') },
          { part: 3, seq: '10', data: b('c3@10') },
        ];
        expect(await store.save('agg', 't', { partition: 0, offset: '10', state: b('head10'), changes: { put, drop: [] } })).toBe(true);
        const drop = [{ part: 2, below: '10' }, { part: 3 }];
        const more = [{ part: 0, seq: '7', data: b('f@7') }, { part: 0, seq: '11', data: b('f@11') }, { part: 0, seq: '100', data: b('f@100') }];
        expect(await store.save('agg', 't', { partition: 0, offset: '12', state: b('head12'), changes: { put: more, drop } })).toBe(true);
        const stored = await store.load('agg', 't', 0);
        expect(stored?.offset).toBe('12');
        expect(stored?.state.toString()).toBe('head12');
        // Numeric order of seq (a text order would put 100 and 11 before 5).
        expect(stored?.parts?.map((p) => `${p.part}:${p.seq}:${p.data.toString()}`)).toEqual(['0:5:f@5', '0:7:f@7', '0:11:f@11', '0:100:f@100', '2:10:c2@10']);
        // A zombie at the same or an older offset changes nothing, parts included.
        for (const offset of ['12', '11']) {
          expect(await store.save('agg', 't', { partition: 0, offset, state: b('zombie'), changes: { put: [{ part: 9, seq: '1', data: b('z') }], drop: [{ part: 0 }] } })).toBe(false);
        }
        expect(await store.load('agg', 't', 0)).toEqual(stored);
        expect(await store.loadOffset('agg', 't', 0)).toBe('12');
        // A whole-state save (no changes) keeps working as before, and other partitions are apart.
        expect(await store.save('agg', 't', { partition: 1, offset: '3', state: b('whole') })).toBe(true);
        expect((await store.load('agg', 't', 1))?.parts).toEqual([]);
      } finally {
        await db.close();
      }
    });

    it('an aggregator saved incrementally over many checkpoints restores byte for byte', async () => {
      const db = await openMigratedStore(driver);
      try {
        const store = new SqlCheckpointStore(db.sql, db.schema);
        const options = { partition: 2, rules: RULES, maxDedupeEntries: 500, maxRetiredUsers: 300, lateGraceMs: 60_000 };
        const agg = new PartitionAggregator(options);
        const cpr = AggregatorCheckpointer.fresh(agg);
        let t = 1_700_000_000_000;
        for (let i = 0; i < 4000; i++) {
          t += 700;
          const user = ((i * 7919) % 900).toString(16).padStart(32, '0');
          agg.apply({ user, time: t, id: `e${i}`, name: i % 3 === 0 ? 'act' : 'page', flags: i % 2 === 0 ? [{ feature: 'f1', variant: i % 4 === 0 ? 'on' : 'off' }] : [], source: 'span' }, String(i));
          if (i % 250 !== 249) continue;
          const cp = cpr.take(agg, String(i + 1));
          const saved = await store.save('aggregator', 'events', { partition: 2, offset: String(i + 1), state: cp.head, changes: cp.changes });
          cp.settle(saved);
          expect(saved).toBe(true);
        }
        const stored = await store.load('aggregator', 'events', 2);
        const back = AggregatorCheckpointer.restore(stored!.state, stored!.parts!, options).aggregator;
        expect(back.serialize().equals(agg.serialize())).toBe(true);
        expect(back.stats().retiredUsers).toBeGreaterThan(0);
      } finally {
        await db.close();
      }
    });
  });
}

// The verdict stage's incremental checkpoints through the SQL store on both drivers: rows of one
// feature replaced in place (seq 0) over many saves, a save with nothing changed writing only the
// head, and the restored engine equal to the live one (its whole-state JSON compared).

import { afterAll, describe, expect, it } from 'vitest';
import { SqlCheckpointStore } from '../../../src/store/sql-checkpoint-store.js';
import { parseRules } from '../../../src/rules/load.js';
import { readEngineCheckpoint, VerdictCheckpointer } from '../../../src/verdict/engine-checkpoint.js';
import { SequentialEvaluator } from '../../../src/verdict/sequential-evaluator.js';
import { VerdictEngine } from '../../../src/verdict/verdict-engine.js';
import { cohortPartial, T0 } from '../../unit/verdict/engine-fixture.js';
import { openMigratedStore, pgDriver, pgliteDriver, type StoreDriver } from '../flags/flag-store-fixture.js';

const FEATURES = ['a', 'b', 'c', 'd'];
const RULES = parseRules(JSON.stringify({
  version: 'r1',
  rules: FEATURES.map((featureId) => ({
    featureId, activationThreshold: 0.15, retentionThreshold: 0.4, latencyP95Threshold: 200, minCohortSize: 100, evaluationWindowSeconds: 3600,
    cohorts: { control: 'control', guarded: ['treatment'] }, mode: 'enforce',
  })),
}));

for (const driver of [pgDriver, pgliteDriver()] as StoreDriver[]) {
  describe(`verdict checkpoints in the SQL store on ${driver.name}`, () => {
    afterAll(() => driver.dispose?.());

    it('restore the engine saved incrementally over many checkpoints', async () => {
      const db = await openMigratedStore(driver);
      try {
        const store = new SqlCheckpointStore(db.sql, db.schema);
        const engine = new VerdictEngine({ rules: RULES, evaluator: new SequentialEvaluator(), heartbeatMs: 3600_000, partitions: 2 });
        const cp = new VerdictCheckpointer();
        let offset = 0;
        for (let step = 1; step <= 90; step++) {
          // Feature i is reported only every i+1 steps, so saves write different subsets.
          for (const [i, feature] of FEATURES.entries()) {
            if (step % (i + 1) !== 0) continue;
            const at = T0 + step * 60_000;
            for (const partition of [0, 1]) {
              const cohorts = ['control', 'treatment'].map((cohort) => ({ ...cohortPartial({ cohort, exposed: 20 * step, latencyMs: cohort === 'treatment' && feature === 'b' ? 600 : 120, requests: 40 * step }), feature, partition, watermark: at }));
              engine.apply({ feature, partition, offset: String(step), watermark: at, step: at, cohorts });
            }
          }
          const taken = cp.take(engine);
          if (step % 30 === 0) expect(taken.changes.put).toHaveLength(FEATURES.filter((_, i) => step % (i + 1) === 0).length);
          const saved = await store.save('verdict', 'stats', { partition: 0, offset: String(++offset), state: taken.head, changes: taken.changes });
          taken.settle(saved);
          expect(saved).toBe(true);
        }
        const quiet = cp.take(engine);
        expect(quiet.changes.put).toEqual([]);
        const stored = await store.load('verdict', 'stats', 0);
        expect(stored!.parts).toHaveLength(FEATURES.length);
        expect(readEngineCheckpoint(stored!.state, stored!.parts!)).toEqual(JSON.parse(engine.serialize().toString()));
        expect(engine.latest('b').some((v) => v.outcome === 'fail')).toBe(true);
      } finally {
        await db.close();
      }
    });
  });
}

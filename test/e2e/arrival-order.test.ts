// Arrival order end to end, with real OTel SDK exporters, on the embedded default and on
// Kafka/PostgreSQL/Redis: three features' telemetry sent in event-time order ("live") and as a
// backfill (feature after feature, each user's spans together) must give the same final outcomes
// and flag states; nothing is refused; every declared feature answers 200 on the flag API with
// its guarded cohorts; and a replay of the recorded log gives the live verdict stream bit for bit.
// Every published aggregate equals the oracle's, feat_cart's early activation counts included.

import { describe, expect, it } from 'vitest';
import { runOrder } from '../helpers/arrival-run.js';

for (const distributed of [false, true]) {
  describe(`arrival order on ${distributed ? 'Kafka, PostgreSQL and Redis' : 'the embedded default'}`, () => {
    it('a backfill and a 3 h outage give the live outcomes, refuse nothing, and replay equals live bit for bit', async () => {
      const live = await runOrder({ order: 'live', distributed });
      const backfill = await runOrder({ order: 'backfill', distributed });
      const outage = await runOrder({ order: 'outage', distributed });
      expect(outage.outcomes).toEqual(live.outcomes);
      expect(outage.flags).toEqual(live.flags);
      expect(outage.counters.refused).toBe(0);
      expect(outage.counters.accepted).toBe(live.counters.accepted);
      expect(live.outcomes['feat_slow_recs/treatment']).toBe('fail');
      for (const [key, outcome] of Object.entries(live.outcomes)) if (key !== 'feat_slow_recs/treatment') expect(outcome, key).not.toBe('fail');
      expect(backfill.outcomes).toEqual(live.outcomes);
      expect(backfill.flags).toEqual(live.flags);
      expect(live.flags).toEqual({
        feat_slow_recs: { treatment: 'off' },
        feat_aa: { treatment: 'on' },
        feat_cart: { treatment: 'on' },
      });
      expect(live.counters.refused).toBe(0);
      expect(backfill.counters.refused).toBe(0);
      expect(backfill.counters.accepted).toBe(live.counters.accepted);
      expect(backfill.counters.late).toBeGreaterThan(live.counters.late);
      expect(live.verdictStreamsMatchReplay && backfill.verdictStreamsMatchReplay && outage.verdictStreamsMatchReplay).toBe(true);
      // feat_cart's rule opts in to early activation counts: published in every order.
      for (const run of [live, backfill, outage]) expect(run.earlyReached).toBeGreaterThan(0);
    }, 420_000);
  });
}

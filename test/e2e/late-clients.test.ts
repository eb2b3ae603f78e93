// Late and skewed senders end to end, with real OTel SDK exporters, on the embedded default and on
// Kafka/PostgreSQL/Redis (test/helpers/arrival-run.ts runs the app and checks every published
// aggregate against the independent oracle and the verdict stream against a replay):
//  - a mobile client (feat_cart's service) offline for two days while live traffic continues:
//    its spans are applied and counted as late while their windows are open for late data, and
//    refused and counted as too late once every window closed;
//  - a source whose clock runs 30 minutes ahead: the watermark stays with the slower sources
//    (the /metrics gauges show it held back), nothing of theirs is refused, and the outcomes are
//    those of the same data with a correct clock.

import { describe, expect, it } from 'vitest';
import { runOrder } from '../helpers/arrival-run.js';
import { perPartition, sumMetric } from '../helpers/metrics-text.js';
import { EDGE_SERVICE } from '../helpers/history-scenario.js';
import { waitFor } from '../helpers/services.js';

const SKEW_MS = 30 * 60_000;

/** Once the aggregator has applied what was sent so far: each partition's watermark and how far it is held back. */
async function watermarkGauges(metrics: () => Promise<string>) {
  const text = await waitFor(
    async () => {
      const t = await metrics();
      return sumMetric(t, 'pmf_stage_consumer_lag_records') === 0 && perPartition(t, 'pmf_aggregator_watermark_seconds').size > 0 ? t : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, message: 'the aggregator did not catch up with the first half of the history' },
  );
  return { watermark: perPartition(text, 'pmf_aggregator_watermark_seconds'), heldBack: perPartition(text, 'pmf_aggregator_watermark_held_back_seconds') };
}

for (const distributed of [false, true]) {
  describe(`late and skewed senders on ${distributed ? 'Kafka, PostgreSQL and Redis' : 'the embedded default'}`, () => {
    it('a client two days late is applied as late while its windows are open, and refused as too late once they all closed', async () => {
      // The rules' longest window is 2 h; a grace of 3 days keeps every window of the offline
      // client's users open for late data when its spans arrive two days later.
      const open = await runOrder({ order: 'mobile', distributed, aggregation: { lateGraceSeconds: 3 * 86_400 } });
      expect(open.sent.edgeSpans).toBeGreaterThan(1000);
      expect(open.counters.refused).toBe(0);
      expect(open.oracle.refused).toBe(0);
      expect(open.counters.late).toBeGreaterThanOrEqual(open.sent.edgeSpans);
      expect(open.counters.late).toBe(open.oracle.late);
      expect(open.counters.lateApplied).toBeGreaterThan(0);
      expect(open.flags.feat_cart.treatment).toBe('on');

      // The default grace (6 h): the horizon is 2 h + 6 h, so every window of those users has
      // closed, and each of their spans is refused and counted; the other features are untouched.
      const closed = await runOrder({ order: 'mobile', distributed, judged: ['feat_slow_recs', 'feat_aa'] });
      expect(closed.counters.refused).toBe(closed.sent.edgeSpans);
      expect(closed.oracle.refused).toBe(closed.sent.edgeSpans);
      expect(closed.counters.late).toBe(closed.oracle.late);
      expect(closed.counters.accepted + closed.counters.refused).toBe(open.counters.accepted);
      expect(closed.flags.feat_cart).toEqual({});
      for (const key of ['feat_slow_recs/treatment', 'feat_aa/treatment']) expect(closed.outcomes[key], key).toBe(open.outcomes[key]);
      expect(closed.outcomes['feat_slow_recs/treatment']).toBe('fail');
      expect(open.verdictStreamsMatchReplay && closed.verdictStreamsMatchReplay).toBe(true);
    }, 300_000);

    it('a source whose clock runs 30 min ahead holds no watermark forward: nothing else is refused, outcomes as with a correct clock', async () => {
      let correctGauges: Awaited<ReturnType<typeof watermarkGauges>> | undefined;
      let fastGauges: Awaited<ReturnType<typeof watermarkGauges>> | undefined;
      // A sender holds the watermark while it sends at least every sourceIdleSeconds (event time);
      // with many partitions (the embedded default) this history leaves gaps of several minutes
      // on some, after which the watermark would rightly move on to the fast source. A longer
      // idle time, in both runs, keeps the test about the skew, not about those gaps; a 90 min
      // tail then lets both history services go idle and every window mature in both runs.
      const aggregation = { sourceIdleSeconds: 900 };
      const tailMs = 90 * 60_000;
      const correct = await runOrder({ order: 'live', distributed, aggregation, tailMs, midway: async (m) => void (correctGauges = await watermarkGauges(m)) });
      const fast = await runOrder({
        order: 'live', distributed, aggregation, tailMs, skew: { service: EDGE_SERVICE, ms: SKEW_MS }, midway: async (m) => void (fastGauges = await watermarkGauges(m)),
      });
      // Halfway through, both services sending: the fast source's newest event time leads, and the
      // watermark stays with the slower one, held back by the skew plus the allowed lateness on
      // every partition, and no further on than with the correct clock by anything like the skew.
      expect(fastGauges!.heldBack.size).toBeGreaterThan(0);
      for (const [partition, held] of fastGauges!.heldBack) {
        expect(held, `partition ${partition} held back`).toBeGreaterThanOrEqual(SKEW_MS / 1000);
        expect(correctGauges!.heldBack.get(partition)!, `partition ${partition} held back, correct clock`).toBeLessThan(SKEW_MS / 1000);
        expect(fastGauges!.watermark.get(partition)! - correctGauges!.watermark.get(partition)!).toBeLessThan(SKEW_MS / 1000 / 2);
      }
      expect(fast.counters.refused).toBe(0);
      expect(fast.oracle.refused).toBe(0);
      expect(fast.counters.late).toBe(fast.oracle.late);
      expect(fast.counters.accepted).toBe(correct.counters.accepted);
      expect(fast.outcomes).toEqual(correct.outcomes);
      expect(fast.flags).toEqual(correct.flags);
      expect(fast.outcomes['feat_slow_recs/treatment']).toBe('fail');
      expect(fast.verdictStreamsMatchReplay && correct.verdictStreamsMatchReplay).toBe(true);
    }, 300_000);
  });
}

// Fault test (a): an aggregator is kill -9'd three times while 200,000 events stream in, and
// restarted each time. Afterwards every (feature, cohort) aggregate, histogram included, in the
// checkpoints and on the cohort-stats topic equals the oracle's recomputation from the events
// topic, exactly. Real Kafka and PostgreSQL; each kill costs one consumer-group session timeout
// (the dead member is only replaced once the coordinator gives up on it).

import { describe, expect, it } from 'vitest';
import { AggregatorProcess, withLogsOnFailure, generateStream } from './aggregator-fault-kit.js';
import { expectEveryRecordAccounted, faultSuite } from './fault-suite.js';

const EVENTS = 200_000;

describe('aggregator under kill -9', () => {
  const { env, harness, members: running } = faultSuite('fault_kill9');

  it('loses nothing and counts nothing twice across three kills', async () => {
    await withLogsOnFailure(running, async () => {
      const stream = generateStream(9, EVENTS);
      let aggregator = new AggregatorProcess(env).start();
      running.push(aggregator);
      await aggregator.waitStarted();
      const feeder = harness.feed(stream);
      for (const at of [0.25, 0.5, 0.75]) {
        await harness.waitSent(feeder, Math.floor(at * stream.length));
        await aggregator.kill9();
        aggregator = new AggregatorProcess(env).start();
        running.push(aggregator);
        await aggregator.waitStarted();
      }
      await feeder.done;

      const ends = await harness.waitCaughtUp(120_000);
      const totals = await harness.verifyExact(ends);
      console.log('kill -9 fault test:', JSON.stringify(totals));
      // The stream exercised what it should: duplicates, late and too-late events, evictions.
      expect(totals.duplicates).toBeGreaterThan(1000);
      expect(totals.lateEvents).toBeGreaterThan(1000);
      expect(totals.tooLate).toBeGreaterThan(100);
      expect(totals.evictedUsers).toBeGreaterThan(1000);
      const records = expectEveryRecordAccounted(totals, ends);
      expect(records).toBeGreaterThanOrEqual(BigInt(EVENTS));
      expect(running.filter((a) => !a.running)).toHaveLength(3);
    });
  }, 240_000);
});

// Fault test (b): the aggregator group grows from 1 to 3 members and shrinks to 2 while 200,000
// events stream in; partitions move between live members (and their in-memory states are
// dropped and reloaded from checkpoints) several times. Afterwards every (feature, cohort)
// aggregate equals the oracle's recomputation from the events topic, exactly.

import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/services.js';
import { AggregatorProcess, withLogsOnFailure, PARTITIONS, generateStream } from './aggregator-fault-kit.js';
import { expectEveryRecordAccounted, faultSuite } from './fault-suite.js';

const EVENTS = 200_000;

describe('aggregator group growing and shrinking', () => {
  const { env, harness, members } = faultSuite('fault_rebalance');

  /** Until the given members own every partition between them, each at least one. */
  async function waitAssigned(live: AggregatorProcess[]): Promise<number[]> {
    return waitFor(
      async () => {
        const owned = await Promise.all(live.map((a) => a.ownedPartitions()));
        return owned.every((n) => n > 0) && owned.reduce((a, b) => a + b, 0) === PARTITIONS ? owned : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, message: `${live.length} members own all ${PARTITIONS} partitions` },
    );
  }

  it('loses nothing and counts nothing twice from 1 to 3 members and back to 2', async () => {
    await withLogsOnFailure(members, async () => {
      const stream = generateStream(17, EVENTS);
      const first = new AggregatorProcess(env).start();
      members.push(first);
      await first.waitStarted();
      const feeder = harness.feed(stream);

      await harness.waitSent(feeder, Math.floor(stream.length / 4));
      expect(await waitAssigned([first])).toEqual([PARTITIONS]);
      // Grow to three mid-stream.
      const grown = [new AggregatorProcess(env).start(), new AggregatorProcess(env).start()];
      members.push(...grown);
      await Promise.all(grown.map((a) => a.waitStarted()));
      expect(await waitAssigned([first, ...grown])).toHaveLength(3);

      // Shrink to two mid-stream: one member drains and leaves the group (SIGTERM).
      await harness.waitSent(feeder, Math.floor((stream.length * 2) / 3));
      expect(feeder.sent).toBeLessThan(stream.length);
      expect(await grown[0].stop()).toBe(0);
      await waitAssigned([first, grown[1]]);
      await feeder.done;

      const ends = await harness.waitCaughtUp(120_000);
      const totals = await harness.verifyExact(ends);
      console.log('rebalance fault test:', JSON.stringify(totals));
      expectEveryRecordAccounted(totals, ends);
      expect(totals.duplicates).toBeGreaterThan(1000);
      expect(totals.evictedUsers).toBeGreaterThan(1000);
    });
  }, 240_000);
});

// Fault test (d), the Jepsen "pause" nemesis: the only aggregator is frozen (SIGSTOP) past its
// consumer-group session, at the worst moment: inside checkpoint saves, whose open transactions
// keep their row locks while it sleeps (PostgreSQL ends them after
// database.idleInTransactionTimeoutMs; before that setting the successor waited on those rows for
// good and logged nothing). A second one takes every partition over and moves every checkpoint
// on; then the frozen one wakes up (SIGCONT) with its old in-memory state of all partitions and
// rejoins, getting some of them back. Its stale state must neither overwrite newer checkpoints
// nor resume from the group's newer committed offsets (which would skip the records in between).
// Afterwards every aggregate equals the oracle, exactly.

import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/services.js';
import { AggregatorProcess, PARTITIONS, generateStream, withLogsOnFailure } from './aggregator-fault-kit.js';
import { expectEveryRecordAccounted, faultSuite } from './fault-suite.js';

const EVENTS = 200_000;

describe('aggregator paused past its session', () => {
  const { env, harness, members } = faultSuite('fault_pause');

  it('a member that wakes up with stale state loses nothing and counts nothing twice', async () => {
    const stream = generateStream(31, EVENTS);
    const sleeper = new AggregatorProcess(env).start();
    members.push(sleeper);
    await withLogsOnFailure(members, async () => {
      await sleeper.waitStarted();
      const feeder = harness.feed(stream);
      await harness.waitSent(feeder, Math.floor(stream.length / 4));
      expect(await sleeper.ownedPartitions()).toBe(PARTITIONS);

      // Frozen inside a checkpoint save: its open transaction keeps its row locks while it sleeps.
      const tries = await harness.pauseInCheckpointSave(sleeper);
      console.log(`sleeper frozen inside a checkpoint save after ${tries} tries`);
      const atPause = await harness.checkpoints();
      const pausedAt = [...atPause.values()].reduce((sum, cp) => sum + cp.offset, 0n);
      const survivor = new AggregatorProcess(env).start();
      members.push(survivor);
      await survivor.waitStarted();
      // The survivor gets everything once the sleeper's session expired, and moves the checkpoints on.
      await waitFor(async () => (await survivor.ownedPartitions()) === PARTITIONS, {
        timeoutMs: 90_000,
        intervalMs: 250,
        message: 'the survivor owns every partition',
      });
      await harness.waitCheckpointedAtLeast(pausedAt + 40_000n, 90_000);
      // Each partition, the ones whose rows the sleeper held included: a sum hides one left behind.
      await harness.waitEveryCheckpointPast(atPause, 90_000);
      expect(feeder.sent).toBeLessThan(stream.length);

      sleeper.resume();
      await waitFor(async () => (await sleeper.ownedPartitions()) > 0 && (await survivor.ownedPartitions()) < PARTITIONS, {
        timeoutMs: 90_000,
        intervalMs: 250,
        message: 'the woken member rejoined and owns partitions again',
      });
      await feeder.done;

      const ends = await harness.waitCaughtUp(120_000);
      const totals = await harness.verifyExact(ends);
      console.log('pause fault test:', JSON.stringify(totals));
      expectEveryRecordAccounted(totals, ends);
    }, harness);
  }, 280_000);
});

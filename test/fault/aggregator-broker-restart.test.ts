// Fault test (c): the Kafka broker is restarted while two aggregators consume a stream of 200,000
// events (and the test keeps producing: its sends fail while the broker is down and are retried).
// Afterwards every (feature, cohort) aggregate equals the oracle's recomputation, exactly.
// The broker is a private one (scripts/stack.sh with KAFKA_PORT, default 9492), so other tests on
// the shared broker are not disturbed.

import { describe, expect, it } from 'vitest';
import { PrivateKafka } from '../helpers/private-kafka.js';
import { AggregatorProcess, generateStream, withLogsOnFailure } from './aggregator-fault-kit.js';
import { expectEveryRecordAccounted, faultSuite } from './fault-suite.js';

const EVENTS = 200_000;
const broker = new PrivateKafka(Number(process.env.PMF_TEST_KAFKA_FAULT_PORT ?? '9492'));

describe('aggregators across a broker restart', () => {
  const { env, harness, members } = faultSuite('fault_broker', {
    brokers: broker.brokers,
    before: () => broker.start(),
    after: () => broker.stop(),
  });

  it('loses nothing and counts nothing twice when the broker restarts mid-stream', async () => {
    const stream = generateStream(23, EVENTS);
    members.push(new AggregatorProcess(env).start(), new AggregatorProcess(env).start());
    await withLogsOnFailure(members, async () => {
      await Promise.all(members.map((a) => a.waitStarted()));
      const feeder = harness.feed(stream);
      await harness.waitSent(feeder, Math.floor(stream.length / 3));
      const stopped = await broker.stop();
      expect(stopped).toMatch(/kafka: stopping pid \d+/);
      expect(feeder.sent).toBeLessThan(stream.length);
      await broker.start();
      await feeder.done;

      const ends = await harness.waitCaughtUp(150_000);
      const totals = await harness.verifyExact(ends);
      console.log('broker restart fault test:', JSON.stringify(totals));
      const records = expectEveryRecordAccounted(totals, ends);
      expect(records).toBeGreaterThanOrEqual(BigInt(EVENTS));
      expect(members.every((a) => a.running)).toBe(true);
    });
  }, 280_000);
});

// Fault test (c): the Kafka broker is restarted while two aggregators consume a stream of 200,000
// events (and the test keeps producing: its sends fail while the broker is down and are retried).
// Afterwards every (feature, cohort) aggregate equals the oracle's recomputation, exactly.
// The broker is a private one (scripts/stack.sh with KAFKA_PORT, default 9492), so other tests on
// the shared broker are not disturbed.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregatorProcess, FaultHarness, generateStream, makeFaultEnv, withLogsOnFailure } from './aggregator-fault-kit.js';

const EVENTS = 200_000;
const PORT = Number(process.env.PMF_TEST_KAFKA_FAULT_PORT ?? '9492');
const run = promisify(execFile);
const stackScript = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));

async function stack(...args: string[]): Promise<string> {
  const { stderr } = await run('bash', [stackScript, ...args], {
    timeout: 180_000,
    env: { ...process.env, KAFKA_PORT: String(PORT), KAFKA_CONTROLLER_PORT: String(PORT + 1) },
  });
  return stderr;
}

describe('aggregators across a broker restart', () => {
  const env = makeFaultEnv('fault_broker', [`127.0.0.1:${PORT}`]);
  let harness: FaultHarness;
  const members: AggregatorProcess[] = [];

  beforeAll(async () => {
    await stack('start', 'kafka');
    harness = new FaultHarness(env);
    await harness.start();
  }, 200_000);

  afterAll(async () => {
    await Promise.all(members.map((a) => a.kill9()));
    await harness?.close();
    await stack('stop', 'kafka');
  }, 200_000);

  it('loses nothing and counts nothing twice when the broker restarts mid-stream', async () => {
    const stream = generateStream(23, EVENTS);
    members.push(new AggregatorProcess(env).start(), new AggregatorProcess(env).start());
    await withLogsOnFailure(members, async () => {
      await Promise.all(members.map((a) => a.waitStarted()));
      const feeder = harness.feed(stream);
      await harness.waitSent(feeder, Math.floor(stream.length / 3));
      const stopped = await stack('stop', 'kafka');
      expect(stopped).toMatch(/kafka: stopping pid \d+/);
      expect(feeder.sent).toBeLessThan(stream.length);
      await stack('start', 'kafka');
      await feeder.done;

      const ends = await harness.waitCaughtUp(150_000);
      const totals = await harness.verifyExact(ends);
      console.log('broker restart fault test:', JSON.stringify(totals));
      const records = [...ends.values()].reduce((a, b) => a + b, 0n);
      expect(BigInt(totals.events + totals.duplicates + totals.tooLate + totals.invalidEvents + totals.undecodable)).toBe(records);
      expect(records).toBeGreaterThanOrEqual(BigInt(EVENTS));
      expect(members.every((a) => a.running)).toBe(true);
    });
  }, 280_000);
});

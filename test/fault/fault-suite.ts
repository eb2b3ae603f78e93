// What every aggregator fault test sets up and checks the same way: its environment, a harness
// started before its tests and closed after them, the aggregators it starts (all killed at the
// end), and the closing count that every record of the events topic is accounted for.

import { afterAll, beforeAll, expect } from 'vitest';
import { AggregatorProcess, FaultHarness, makeFaultEnv, type FaultEnv } from './aggregator-fault-kit.js';

export interface FaultSuite {
  readonly env: FaultEnv;
  readonly harness: FaultHarness;
  /** Push every aggregator the test starts; afterAll kills them. */
  readonly members: AggregatorProcess[];
}

/**
 * Registers the suite's beforeAll/afterAll in the calling describe block. `before` runs ahead of the
 * harness (a private broker to start), `after` behind its close (the broker to stop).
 */
export function faultSuite(
  name: string,
  options: { brokers?: readonly string[]; before?: () => Promise<unknown>; after?: () => Promise<unknown> } = {},
): FaultSuite {
  const env = makeFaultEnv(name, options.brokers);
  const harness = new FaultHarness(env);
  const members: AggregatorProcess[] = [];

  beforeAll(async () => {
    await options.before?.();
    await harness.start();
  }, 200_000);

  afterAll(async () => {
    // A member frozen by SIGSTOP is woken first, so that it dies like the others.
    for (const a of members) a.resume();
    await Promise.all(members.map((a) => a.kill9()));
    await harness.close();
    await options.after?.();
  }, 200_000);

  return { env, harness, members };
}

/** Every record of the events topic up to `ends` was applied, or refused and counted; returns how many there were. */
export function expectEveryRecordAccounted(totals: Record<string, number>, ends: Map<number, bigint>): bigint {
  const records = [...ends.values()].reduce((a, b) => a + b, 0n);
  expect(BigInt(totals.events + totals.duplicates + totals.tooLate + totals.invalidEvents + totals.undecodable)).toBe(records);
  return records;
}

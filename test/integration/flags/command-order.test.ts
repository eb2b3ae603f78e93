// Duplicate and out-of-order delivery, as a property on real PostgreSQL + Redis: any interleaving
// of a set of commands with re-deliveries mixed in gives exactly the state of applying each
// command once, in the order of its first delivery; and outbox snapshots sent to Redis in any
// order leave the newest one there.

import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { FlagCommand, FlagState } from '../../../src/events/flag-command.js';
import { FlagRepository, type ApplyStatus } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { openMigratedStore, pgDriver, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, redisClient, uniquePrefix } from './redis-fixture.js';
import { silentLogger } from '../../../src/core/logger.js';

const FEATURES = 2;
const COHORTS = ['a', 'b', 'c'];

const commandSpec = fc.record({
  feature: fc.integer({ min: 0, max: FEATURES - 1 }),
  cohort: fc.constantFrom(...COHORTS),
  state: fc.constantFrom<FlagState>('on', 'off'),
});

const scenario = fc
  .array(commandSpec, { minLength: 1, maxLength: 12 })
  .chain((specs) =>
    fc.record({
      specs: fc.constant(specs),
      // Every command once plus some re-deliveries, in any order.
      delivery: fc
        .array(fc.integer({ min: 0, max: specs.length - 1 }), { maxLength: 6 })
        .chain((dups) => fc.shuffledSubarray([...specs.keys(), ...dups], { minLength: specs.length + dups.length, maxLength: specs.length + dups.length })),
      // Sort keys for the outbox rows (at most one row per command).
      relayOrder: fc.array(fc.nat(), { minLength: specs.length, maxLength: specs.length }),
    }),
  );

describe('duplicate and out-of-order commands', () => {
  let store: MigratedStore;
  let repo: FlagRepository;
  let redis: Redis;
  const prefix = uniquePrefix();
  let run = 0;

  beforeAll(async () => {
    store = await openMigratedStore(pgDriver);
    repo = new FlagRepository(store.sql, store.schema);
    redis = redisClient();
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
    await store.close();
  });

  it('apply each command once, in first-delivery order, and keep Redis equal to PostgreSQL', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ specs, delivery, relayOrder }) => {
        run++;
        const feature = (i: number) => `run${run}_f${i}`;
        const commands: FlagCommand[] = specs.map((s, i) => ({
          commandId: `run${run}-${i}`,
          feature: feature(s.feature),
          cohort: s.cohort,
          action: s.state === 'off' ? 'rollback' : 'restore',
          state: s.state,
          source: 'verdict',
          reason: `#${i}`,
          issuedAt: new Date().toISOString(),
        }));
        const cache = new RedisFlagCache(redis, { keyPrefix: prefix });
        const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
        const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0 });

        // The model: first delivery wins, later ones are duplicates; a version per actual change.
        const model = new Map<string, { version: number; cohorts: Record<string, FlagState> }>();
        const seen = new Set<number>();
        const expectedStatuses: ApplyStatus[] = [];
        for (const i of delivery) {
          const cmd = commands[i];
          const f = model.get(cmd.feature) ?? { version: 0, cohorts: {} };
          model.set(cmd.feature, f);
          if (seen.has(i)) expectedStatuses.push('duplicate');
          else if (f.cohorts[cmd.cohort] === cmd.state) expectedStatuses.push('no_change');
          else {
            f.cohorts[cmd.cohort] = cmd.state;
            f.version++;
            expectedStatuses.push('applied');
          }
          seen.add(i);
        }

        const statuses: ApplyStatus[] = [];
        for (const i of delivery) statuses.push((await writer.apply(commands[i])).status);
        expect(statuses).toEqual(expectedStatuses);
        for (const [name, f] of model) {
          expect(await repo.featureSnapshot(name)).toEqual({ feature: name, ...f });
          expect(await cache.readFeature(name)).toEqual(f);
        }

        // Every snapshot of the run sent again to a fresh Redis prefix, in a random order.
        const { rows } = await store.sql.query<{ feature: string; version: unknown; payload: { cohorts: Record<string, FlagState> } }>(
          `SELECT feature, version, payload FROM "${store.schema}".outbox WHERE feature LIKE $1`,
          [`run${run}\\_%`],
        );
        const shuffled = rows.map((r, i) => ({ r, k: relayOrder[i] })).sort((x, y) => x.k - y.k).map((x) => x.r);
        const late = new RedisFlagCache(redis, { keyPrefix: `${prefix}late${run}:` });
        for (const r of shuffled) await late.writeFeature(r.feature, Number(r.version), r.payload.cohorts);
        for (const [name, f] of model) {
          if (f.version > 0) expect(await late.readFeature(name)).toEqual(f);
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});

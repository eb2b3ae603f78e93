// Round trips of the flag writer, counted on real PostgreSQL / PGlite and Redis: every command
// (rollback, restore, rollout step; on a pinned cohort or one whose pin has expired) costs one
// database call, plus one Redis script call when it changes what Redis serves, and marking
// outbox rows published is one statement per batch. The multi-statement path, which every
// command took before, is counted too, and both paths must leave identical rows behind for a
// sequence of commands that takes every branch (command-scenario.ts).

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { CountingSql, countingRedis } from '../../helpers/round-trip-counters.js';
import { commandScenario, rampStep, rampTarget, rowsOf, runScenario, SCENARIO_START } from './command-scenario.js';
import { openMigratedStore, pgDriver, pgliteDriver, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, redisClient, uniquePrefix } from './redis-fixture.js';

const drivers = [pgDriver, pgliteDriver()];
afterAll(async () => {
  for (const d of drivers) await d.dispose?.();
});

describe.each(drivers)('flag writer round trips on $name', (driver) => {
  let store: MigratedStore;
  let redis: Redis;
  let prefix: string;
  const writers: FlagWriter[] = [];

  beforeEach(async () => {
    store = await openMigratedStore(driver);
    redis = redisClient();
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.stop();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await store.close();
  });

  const setUp = async (commandsInOneCall: boolean, batchSize = 100) => {
    const sql = new CountingSql(store.sql);
    const redisCalls = { calls: 0 };
    const clock = new ManualClock(SCENARIO_START);
    const repository = new FlagRepository(sql, store.schema, { commandsInOneCall, clock });
    const cache = new RedisFlagCache(countingRedis(redis, redisCalls, ['evalsha', 'eval', 'hgetall']), { keyPrefix: prefix });
    const relay = new OutboxRelay({ logger: silentLogger, repository, cache, clock, pollIntervalMs: 0, reconcileIntervalMs: 0, batchSize });
    const writer = new FlagWriter({ logger: silentLogger, repository, relay, clock, pinSweepIntervalMs: 0 });
    writers.push(writer);
    await writer.ensureGuarded('feat', ['treatment', 'control']);
    await writer.ensureGuarded('ramp', ['treatment'], { percent: 1, stages: 4, salt: 's1', control: 'control' });
    await writer.start();
    const count = async (fn: () => Promise<unknown>) => {
      sql.calls = 0;
      redisCalls.calls = 0;
      await fn();
      return { sql: sql.calls, redis: redisCalls.calls };
    };
    return { writer, cache, repository, clock, count };
  };

  it('applies a plain command in one database call and one Redis call', async () => {
    const { writer, cache, count } = await setUp(true);
    const cmd = rollback('feat', 'treatment');
    await expect(count(() => writer.apply(cmd))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off', control: 'on' } });
    // A replay and a command that changes nothing never reach Redis.
    await expect(count(() => writer.apply(cmd))).resolves.toEqual({ sql: 1, redis: 0 });
    await expect(count(() => writer.apply(rollback('feat', 'treatment')))).resolves.toEqual({ sql: 1, redis: 0 });
    expect(writer.metrics().commands).toMatchObject({ applied: 1, duplicate: 1, no_change: 1 });
  });

  it('applies rollout steps in one database call and one Redis call', async () => {
    const { writer, cache, count } = await setUp(true);
    await expect(count(() => writer.apply(rampStep('s1', 'advance', 'on', rampTarget(2, 10))))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(count(() => writer.apply(rampStep('s2', 'pause', 'on', rampTarget(2, 10, 'paused'), { source: 'manual', actor: 'ana' })))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(count(() => writer.apply(rampStep('s3', 'abort', 'off', rampTarget(0, 0, 'aborted'))))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(cache.readFeature('ramp')).resolves.toEqual({
      version: 4,
      cohorts: { treatment: 'off' },
      allocations: { treatment: { percent: 0, salt: 's1', control: 'control' } },
    });
    // A step that changes nothing, and an automatic advance refused as a cut-back, stay in PostgreSQL.
    await expect(count(() => writer.apply(rampStep('s4', 'abort', 'off', rampTarget(0, 0, 'aborted'))))).resolves.toEqual({ sql: 1, redis: 0 });
    await writer.apply(rampStep('s5', 'start', 'on', rampTarget(3, 50)));
    await expect(count(() => writer.apply(rampStep('s6', 'advance', 'on', rampTarget(2, 10))))).resolves.toEqual({ sql: 1, redis: 0 });
    expect(writer.metrics().commands).toMatchObject({ applied: 4, no_change: 2 });
  });

  it('records commands on a pinned cohort in one database call, and one Redis call when an expired pin gives way', async () => {
    const { writer, cache, clock, count } = await setUp(true);
    await writer.pin({ commandId: 'p1', feature: 'ramp', cohort: 'treatment', state: 'on', until: new Date(SCENARIO_START + 3600_000).toISOString(), actor: 'bob', reason: 'hold' });
    // Held (automatic) or refused (manual): recorded with their result, nothing for Redis.
    await expect(count(() => writer.apply(rampStep('s1', 'advance', 'on', rampTarget(2, 10))))).resolves.toEqual({ sql: 1, redis: 0 });
    await expect(count(() => writer.apply(rampStep('s2', 'abort', 'off', rampTarget(0, 0, 'aborted'), { source: 'manual', actor: 'ana' })))).resolves.toEqual({ sql: 1, redis: 0 });
    await expect(count(() => writer.apply(rollback('ramp', 'treatment')))).resolves.toEqual({ sql: 1, redis: 0 });
    expect(writer.metrics().commands).toMatchObject({ skipped_pinned: 3 });
    // Past the pin, the next command ends it, applies the held step and itself: one call each.
    clock.advance(2 * 3600_000);
    await expect(count(() => writer.apply(rampStep('s3', 'hold', 'on', rampTarget(2, 10, 'holding'))))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(cache.readFeature('ramp')).resolves.toMatchObject({ version: 2, allocations: { treatment: { percent: 10 } } });
    // An expired pin whose release alone moves the version still reaches Redis at once.
    await writer.pin({ commandId: 'p2', feature: 'ramp', cohort: 'treatment', state: 'on', until: new Date(clock.now() + 3600_000).toISOString(), actor: 'bob', reason: 'hold' });
    await writer.apply(rampStep('s4', 'advance', 'on', rampTarget(3, 50)));
    clock.advance(2 * 3600_000);
    await expect(count(() => writer.apply(restore('ramp', 'treatment')))).resolves.toEqual({ sql: 1, redis: 1 });
    await expect(cache.readFeature('ramp')).resolves.toMatchObject({ version: 3, allocations: { treatment: { percent: 50 } } });
  });

  it('marks the rows it sent in one statement per batch', async () => {
    const { writer, repository, count } = await setUp(true, 3);
    const cmds = [rollback('feat', 'treatment'), rollback('feat', 'control'), restore('feat', 'treatment')];
    // Three commands of one call each; the third fills the batch, whose marking is one more.
    await expect(
      count(async () => {
        for (const c of cmds) await writer.apply(c);
        await writer.stop();
      }),
    ).resolves.toEqual({ sql: 4, redis: 3 });
    await expect(repository.pendingOutbox(10)).resolves.toEqual([]);
  });

  it('counts the multi-statement path, which every command took before', async () => {
    const { writer, clock, count } = await setUp(false);
    // BEGIN, lock, applied check, cohort read, flag write, audit, result, version, outbox, COMMIT;
    // then the relay reads the outbox, runs the script and marks the row.
    await expect(count(() => writer.apply(rollback('feat', 'treatment')))).resolves.toEqual({ sql: 12, redis: 1 });
    await expect(count(() => writer.apply(rampStep('s1', 'advance', 'on', rampTarget(2, 10))))).resolves.toEqual({ sql: 12, redis: 1 });
    await writer.pin({ commandId: 'p1', feature: 'ramp', cohort: 'treatment', state: 'on', until: new Date(SCENARIO_START + 3600_000).toISOString(), actor: 'bob', reason: 'hold' });
    // BEGIN, lock, applied check, cohort read, hold, audit, result, COMMIT.
    await expect(count(() => writer.apply(rampStep('s2', 'advance', 'on', rampTarget(3, 50))))).resolves.toEqual({ sql: 8, redis: 0 });
    clock.advance(2 * 3600_000);
    // … cohort read, pin end, re-read, three audit entries …, then the relay's three.
    await expect(count(() => writer.apply(rampStep('s3', 'hold', 'on', rampTarget(3, 50, 'holding'))))).resolves.toEqual({ sql: 17, redis: 1 });
  });

  it('leaves the same rows and results as the multi-statement path for every kind of command', async () => {
    const steps = commandScenario();
    const other = await openMigratedStore(driver);
    try {
      const run = async (s: MigratedStore, commandsInOneCall: boolean) => {
        const clock = new ManualClock(SCENARIO_START);
        const repo = new FlagRepository(s.sql, s.schema, { clock, commandsInOneCall });
        const results = await runScenario(repo, clock, steps);
        return { results, rows: await rowsOf(s) };
      };
      const oneCall = await run(store, true);
      const general = await run(other, false);
      expect(oneCall).toEqual(general);
      // The scenario reaches every outcome and every branch it names (command-scenario.ts).
      expect(oneCall.results.map((r) => r.status).join(' ')).toBe(
        [
          'applied duplicate no_change applied applied skipped_pinned',
          'applied duplicate no_change no_change no_change applied applied applied applied',
          'no_change applied',
          'skipped_pinned skipped_pinned skipped_pinned no_change skipped_pinned applied',
          'skipped_pinned applied',
          'skipped_pinned skipped_pinned applied',
          'applied no_change',
        ].join(' '),
      );
      const reasons = oneCall.rows.audit.map((a) => String(a.reason));
      for (const expected of [
        /^pin on by bob expired at 2026-01-02T01:00:00\.000Z$/,
        /^released when the pin ended: /,
        /^released when the pin ended; not applied: the cohort already serves 33\.33 %, more than stage 2's 10 %; /,
        /^released when the pin ended; nothing to change: /,
        /^not applied: the cohort already serves 12\.5 %, more than stage 2's 10 %; /,
        /^not applied: the cohort already serves 100 %/,
        /^not applied: cohort pinned on until 2026-01-02T03:00:00\.000Z by bob; held until the pin ends; command reason: /,
        /^not applied: cohort pinned on until 2026-01-02T03:00:00\.000Z by bob; command reason: /,
      ]) {
        expect(reasons.some((r) => expected.test(r)), String(expected)).toBe(true);
      }
    } finally {
      await other.close();
    }
  });
});

// Round trips of the flag writer, counted on real PostgreSQL / PGlite and Redis: a plain command
// (rollback or restore of an unpinned cohort) costs one database call and one Redis script call,
// and marking its outbox row published is one statement per batch. The general path, which
// pins and rollouts still take, is counted too (it was every command's path before), and both
// paths must leave identical rows behind for the same commands.

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import type { SqlClient, SqlQueryable } from '../../../src/store/sql-client.js';
import { openMigratedStore, pgDriver, pgliteDriver, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, redisClient, uniquePrefix } from './redis-fixture.js';

/** Counts every statement sent, BEGIN and COMMIT included. */
class CountingSql implements SqlClient {
  calls = 0;
  constructor(private readonly inner: SqlClient) {}
  query<T>(text: string, params?: readonly unknown[]): Promise<{ rows: T[] }> {
    this.calls++;
    return this.inner.query<T>(text, params);
  }
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    this.calls += 2;
    return this.inner.transaction((tx) =>
      fn({
        query: <R>(text: string, params?: readonly unknown[]) => {
          this.calls++;
          return tx.query<R>(text, params);
        },
      }),
    );
  }
}

/** Counts the Redis commands the flag cache sends. */
function countingRedis(redis: Redis, counter: { calls: number }): Redis {
  return new Proxy(redis, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || !['evalsha', 'eval', 'hgetall'].includes(String(prop))) return value;
      return (...args: unknown[]) => {
        counter.calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

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
    const repository = new FlagRepository(sql, store.schema, { commandsInOneCall });
    const cache = new RedisFlagCache(countingRedis(redis, redisCalls), { keyPrefix: prefix });
    const relay = new OutboxRelay({ logger: silentLogger, repository, cache, clock: new ManualClock(0), pollIntervalMs: 0, reconcileIntervalMs: 0, batchSize });
    const writer = new FlagWriter({ logger: silentLogger, repository, relay, clock: new ManualClock(0), pinSweepIntervalMs: 0 });
    writers.push(writer);
    await writer.ensureGuarded('feat', ['treatment', 'control']);
    await writer.start();
    const count = async (fn: () => Promise<unknown>) => {
      sql.calls = 0;
      redisCalls.calls = 0;
      await fn();
      return { sql: sql.calls, redis: redisCalls.calls };
    };
    return { writer, cache, repository, count };
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

  it('counts the general path, which every command took before', async () => {
    const { writer, count } = await setUp(false);
    // BEGIN, lock, applied check, cohort read, flag write, audit, result, version, outbox, COMMIT;
    // then the relay reads the outbox, runs the script and marks the row.
    await expect(count(() => writer.apply(rollback('feat', 'treatment')))).resolves.toEqual({ sql: 12, redis: 1 });
  });

  it('leaves the same rows as the general path for the same commands', async () => {
    const first = rollback('feat', 'treatment', { commandId: 'c1' });
    const cmds: FlagCommand[] = [
      first,
      first,
      rollback('feat', 'treatment', { commandId: 'c2', evidence: undefined }),
      restore('feat', 'treatment', { commandId: 'c3' }),
      rollback('feat', 'fresh', { commandId: 'c4' }),
      rollback('feat', 'control', { commandId: 'c5' }),
      rollback('feat', 'control', { commandId: 'c6' }),
      restore('feat', 'control', { commandId: 'c7' }),
    ];
    const other = await openMigratedStore(driver);
    try {
      const run = async (s: MigratedStore, commandsInOneCall: boolean) => {
        const clock = new ManualClock(Date.parse('2026-01-02T00:00:00.000Z'));
        const repo = new FlagRepository(s.sql, s.schema, { clock, commandsInOneCall });
        await repo.ensureGuarded('feat', ['treatment', 'control']);
        const results = [];
        for (const c of cmds.slice(0, 5)) results.push(await repo.applyCommand(c));
        // A pinned cohort and one whose pin has expired: the one-call path hands both to the general one.
        await repo.pin({ commandId: 'p1', feature: 'feat', cohort: 'control', state: 'on', until: '2026-01-02T01:00:00.000Z', actor: 'bob', reason: 'hold' });
        results.push(await repo.applyCommand(cmds[5]));
        clock.advance(2 * 3600_000);
        // c6 meets the expired pin, whose held c5 already turned the cohort off; c7 finds it unpinned.
        for (const c of cmds.slice(6)) results.push(await repo.applyCommand(c));
        return { results, rows: await rowsOf(s) };
      };
      const plain = await run(store, true);
      const general = await run(other, false);
      expect(plain).toEqual(general);
      expect(plain.results.map((r) => r.status)).toEqual(['applied', 'duplicate', 'no_change', 'applied', 'applied', 'skipped_pinned', 'no_change', 'applied']);
    } finally {
      await other.close();
    }
  });
});

async function rowsOf(s: MigratedStore) {
  const q = async (text: string) => (await s.sql.query(text.replaceAll('$s', `"${s.schema}"`))).rows.map((r) => normalise(r));
  return {
    flags: await q('SELECT feature, cohort, state, version, reason, pinned_state, pinned_by, held_command, allocation, rollout FROM $s.flags ORDER BY feature, cohort'),
    versions: await q('SELECT feature, version FROM $s.feature_versions ORDER BY feature'),
    audit: await q(
      'SELECT command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation FROM $s.audit_log ORDER BY id',
    ),
    applied: await q('SELECT command_id, result FROM $s.applied_commands ORDER BY command_id'),
    outbox: await q('SELECT feature, version, payload FROM $s.outbox ORDER BY id'),
  };
}

// numeric and bigint columns come back as strings from node-postgres and as numbers from PGlite.
function normalise(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
}

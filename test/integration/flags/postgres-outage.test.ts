// PostgreSQL goes away under the flag-writer role (test plan T17): commands read from the log
// while it is down fail with a retryable error, their offsets are not committed, the log
// re-delivers them, and once PostgreSQL is back each takes effect exactly once. The server is
// this test's own (initdb + postgres on a free port), killed with SIGKILL by PID.

import pg from 'pg';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { FlagCommandConsumer } from '../../../src/flags/flag-command-consumer.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { migrate } from '../../../src/store/migrations.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { CommandLog } from '../../helpers/flags/command-log.js';
import { OwnPostgres } from '../../helpers/flags/own-postgres.js';
import { uniqueName, waitFor } from '../../helpers/services.js';
import { restore, rollback } from './flag-store-fixture.js';
import { deleteKeys, redisClient, uniquePrefix } from './redis-fixture.js';
import { silentLogger } from '../../../src/core/logger.js';

describe('flag writer with a PostgreSQL that goes down and comes back', () => {
  let own: OwnPostgres;
  let pool: pg.Pool;
  let commands: CommandLog;
  let redis: Redis;
  const prefix = uniquePrefix();
  const schema = 'pmf_flags';
  const errors: unknown[] = [];

  beforeAll(async () => {
    own = await OwnPostgres.start();
    // Short timeouts so requests fail fast while the server is down instead of hanging.
    pool = new pg.Pool({ connectionString: own.url, max: 4, connectionTimeoutMillis: 1_000 });
    pool.on('error', () => {}); // idle connections die with the server; queries report it
    await migrate(new PgSqlClient(pool), schema);
    commands = await CommandLog.open();
    redis = redisClient();
  }, 120_000);
  afterAll(async () => {
    await commands?.close();
    await pool?.end();
    await own?.dispose();
    if (redis) {
      await deleteKeys(redis, prefix);
      await redis.quit();
    }
  });

  it('does not commit offsets while PostgreSQL is down, and applies every command once when it returns', async () => {
    const sql = new PgSqlClient(pool);
    const repo = new FlagRepository(sql, schema);
    const cache = new RedisFlagCache(redis, { keyPrefix: prefix });
    const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock: systemClock, pollIntervalMs: 100, retry: { initialMs: 50, maxMs: 500 }, onError: (e) => errors.push(e) });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0, onRelayError: (e) => errors.push(e) });
    const groupId = uniqueName('flag-writer');
    const consumer = new FlagCommandConsumer({ log: commands.log, writer, groupId, topic: commands.topic, keyRing: commands.keyRing, isDeclared: () => true, onError: (e) => errors.push(e) });
    await writer.start();
    await consumer.start();
    try {
      const first = rollback('feat', 'a');
      await commands.send(first);
      await waitFor(async () => (await commands.committed(groupId)) === 1, { message: 'first command committed' });
      await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { a: 'off' } });

      await own.down();
      const during = [rollback('feat', 'b'), restore('feat', 'a'), rollback('feat', 'c')];
      await commands.send(...during);

      // The log retries the batch with backoff; every attempt fails and nothing is committed.
      await waitFor(() => commands.failuresOf(groupId).length >= 3, { timeoutMs: 30_000, message: 'three failed deliveries' });
      expect(await commands.committed(groupId)).toBe(1);
      const failures = commands.failuresOf(groupId);
      expect(failures.every((f) => f.fields?.code === 'ERR_STORE_UNAVAILABLE')).toBe(true);
      expect(failures.every((f) => f.fields?.offset === '1')).toBe(true);
      expect(consumer.refused.size).toBe(0);

      await own.up();
      await waitFor(async () => (await commands.committed(groupId)) === 4, { timeoutMs: 30_000, message: 'all four commands committed' });
      await waitFor(async () => (await cache.readFeature('feat'))?.version === 4, { message: 'Redis caught up' });

      await expect(cache.readFeature('feat')).resolves.toEqual({ version: 4, cohorts: { a: 'on', b: 'off', c: 'off' } });
      const audit = await repo.auditLog('feat', 50);
      expect(audit.map((a) => a.commandId).reverse()).toEqual([first, ...during].map((c) => c.commandId));
      expect(audit.every((a) => a.outcome === 'applied')).toBe(true);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.applied_commands`);
      expect(rows[0].n).toBe(4);
      expect(writer.metrics().commands).toMatchObject({ applied: 4 });
    } finally {
      await consumer.stop();
      await writer.stop();
    }
  });
});

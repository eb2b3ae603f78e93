// Two flag writers at once on one feature (test plan T14), each with its own PostgreSQL pool,
// outbox relay and Redis connection, while a reader polls Redis. The feature row lock in
// PostgreSQL hands out versions one at a time and the Redis script only moves forward, so no
// reading ever goes back or shows a body other than the one committed with its version. Run
// on one Redis node and on a Redis Cluster by the concurrent-writers*.test.ts files.

import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { FlagCommand, FlagState } from '../../../src/events/flag-command.js';
import type { FlagCache } from '../../../src/flags/flag-cache.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { RedisFlagCache, type RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { committedSnapshots, RedisPoller } from '../../helpers/flags/redis-poller.js';
import { testServices, waitFor } from '../../helpers/services.js';
import { countRows, openMigratedStore, pgDriver, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, uniquePrefix } from './redis-fixture.js';
import type { RedisTarget } from './redis-target.js';
import { silentLogger } from '../../../src/core/logger.js';

export function describeConcurrentWriters(target: RedisTarget): void {
  describe(`two flag writers at once on ${target.name}`, () => {
    let store: MigratedStore;
    let prefix: string;
    const closers: (() => Promise<unknown>)[] = [];

    /** A writer as another process would run it: own pool, own relay, own Redis connection. */
    const newWriter = (wrap?: (cache: FlagCache) => FlagCache) => {
      const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 4 });
      const repository = new FlagRepository(new PgSqlClient(pool), store.schema);
      const redis = target.connect();
      const redisCache = new RedisFlagCache(redis, { keyPrefix: prefix });
      const cache = wrap ? wrap(redisCache) : redisCache;
      const relay = new OutboxRelay({ logger: silentLogger, repository, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
      const writer = new FlagWriter({ logger: silentLogger, repository, relay, clock: systemClock, pinSweepIntervalMs: 0 });
      closers.push(async () => {
        await writer.stop();
        await pool.end();
        await redis.quit();
      });
      return { writer, repository, relay, cache: redisCache };
    };

    beforeAll(() => target.ensureUp(), 120_000);
    beforeEach(async () => {
      store = await openMigratedStore(pgDriver);
      prefix = uniquePrefix();
    });
    afterEach(async () => {
      for (const close of closers.splice(0)) await close();
      const redis = target.connect();
      await deleteKeys(redis, prefix);
      await redis.quit();
      await store.close();
    });

    it('hammering one feature never makes a reader see a version go back or a body from another version', async () => {
      const a = newWriter();
      const b = newWriter();
      const reader: RedisFlagClient = target.connect();
      closers.push(() => reader.quit());
      const poller = new RedisPoller(reader, () => [{ feature: 'hot', key: a.cache.key('hot') }]);
      await a.writer.ensureGuarded('hot', ['c0', 'c1', 'c2', 'c3']);
      poller.start();

      const perWriter = 120;
      const lanes = 3;
      const commandsOf = (name: string) =>
        Array.from({ length: perWriter }, (_, i): FlagCommand => {
          const state: FlagState = Math.random() < 0.5 ? 'on' : 'off';
          return {
            commandId: `${name}-${i}`,
            feature: 'hot',
            cohort: `c${i % 4}`,
            action: state === 'off' ? 'rollback' : 'restore',
            state,
            source: 'verdict',
            reason: `writer ${name} #${i}`,
            issuedAt: new Date().toISOString(),
          };
        });
      // Each writer runs a few lanes at once, as a consumer with several partitions would.
      const drive = async (w: FlagWriter, cmds: FlagCommand[]) =>
        Promise.all(
          Array.from({ length: lanes }, async (_, lane) => {
            for (let i = lane; i < cmds.length; i += lanes) await w.apply(cmds[i]);
          }),
        );
      try {
        await Promise.all([drive(a.writer, commandsOf('a')), drive(b.writer, commandsOf('b'))]);
        const truth = (await a.repository.featureSnapshot('hot'))!;
        await waitFor(async () => (await a.cache.readFeature('hot'))?.version === truth.version, { message: 'Redis at the final version' });
        await expect(a.cache.readFeature('hot')).resolves.toEqual({ version: truth.version, cohorts: truth.cohorts });
      } finally {
        await poller.stop();
      }

      const committed = await committedSnapshots(store.sql, store.schema);
      expect(poller.violations(committed)).toEqual([]);
      expect(poller.count()).toBeGreaterThan(1);
      // Versions were handed out one at a time: 1..n, each with exactly one snapshot.
      const versions = [...committed.get('hot')!.keys()].sort((x, y) => x - y);
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
      expect(await countRows(store.sql, store.schema, 'applied_commands')).toBe(2 * perWriter);
      // Rows sent straight to Redis are marked published in batches; stopping flushes the batch.
      await a.writer.stop();
      await b.writer.stop();
      expect(await a.repository.pendingOutbox(10)).toEqual([]);
    }, 60_000);

    it('a writer paused before its Redis write cannot put its older version over a newer one', async () => {
      let releaseStale!: () => void;
      const staleHeld = new Promise<void>((resolve) => (releaseStale = resolve));
      let staleResult: boolean | undefined;
      let paused = false;
      // Writer A stops inside its Redis write, as if SIGSTOPped past any lease, and resumes later.
      const a = newWriter((inner) => ({
        readFeature: (f) => inner.readFeature(f),
        async writeFeature(feature, version, cohorts) {
          if (feature === 'feat' && version === 2) {
            paused = true;
            await staleHeld;
            staleResult = await inner.writeFeature(feature, version, cohorts);
            return staleResult;
          }
          return inner.writeFeature(feature, version, cohorts);
        },
      }));
      const b = newWriter();
      await b.writer.ensureGuarded('feat', ['a', 'b']);

      const applying = a.writer.apply({ commandId: 'a-1', feature: 'feat', cohort: 'a', action: 'rollback', state: 'off', source: 'verdict', reason: 'A', issuedAt: new Date().toISOString() });
      await waitFor(() => paused, { message: 'writer A paused inside its Redis write of v2' });
      await b.writer.apply({ commandId: 'b-1', feature: 'feat', cohort: 'b', action: 'rollback', state: 'off', source: 'verdict', reason: 'B', issuedAt: new Date().toISOString() });
      await expect(b.cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { a: 'off', b: 'off' } });

      releaseStale();
      await expect(applying).resolves.toEqual({ status: 'applied', version: 2 });
      expect(staleResult).toBe(false);
      await expect(b.cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { a: 'off', b: 'off' } });
      await a.writer.stop();
      await b.writer.stop();
      expect(await a.repository.pendingOutbox(10)).toEqual([]);
    });
  });
}

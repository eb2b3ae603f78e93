// kill -9 of a flag writer process (test plan T13): once exactly between the PostgreSQL commit and
// the Redis write, then at random moments over many commands while a reader polls Redis. After a
// restart, start-up reconcile makes Redis equal PostgreSQL; no reading ever shows a version whose
// body PostgreSQL did not commit with it, or an older version after a newer one.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { committedSnapshots, RedisPoller } from '../../helpers/flags/redis-poller.js';
import { waitFor } from '../../helpers/services.js';
import { countRows, rollback } from './flag-store-fixture.js';
import { openWriterCrashStack, type WriterCrashStack } from './flag-stack.js';

describe('flag writer killed with SIGKILL', () => {
  let stack: WriterCrashStack;
  const redisEqualsPostgres = async () => {
    for (const s of await stack.repo.allFeatureSnapshots()) {
      const cached = await stack.cache.readFeature(s.feature);
      if (cached?.version !== s.version || JSON.stringify(cached.cohorts) !== JSON.stringify(s.cohorts)) return false;
    }
    return true;
  };

  beforeEach(async () => {
    stack = await openWriterCrashStack();
  });
  afterEach(() => stack.close());

  it('between the PostgreSQL commit and the Redis write: the restarted writer brings Redis up to date', async () => {
    const { store, repo, cache, child } = stack;
    await repo.ensureGuarded('feat', ['a', 'b']);
    const starter = child({ mode: 'reconcile' });
    expect(await starter.exitCode()).toBe(0);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { a: 'on', b: 'on' } });

    const cmd = rollback('feat', 'a');
    const victim = child({ mode: 'stall', command: cmd });
    await victim.waitForLine((l) => l === 'REDIS_WRITE feat 2', 'Redis write of v2 begun');
    await victim.kill9();

    // Committed in PostgreSQL, not in Redis: exactly the window the outbox exists for.
    expect((await repo.getFlag('feat'))!.cohorts.a.state).toBe('off');
    expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([2]);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { a: 'on', b: 'on' } });

    const restarted = child({ mode: 'reconcile' });
    expect(await restarted.exitCode()).toBe(0);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { a: 'off', b: 'on' } });
    expect(await repo.pendingOutbox(10)).toEqual([]);
    expect(await countRows(store.sql, store.schema, 'applied_commands')).toBe(1);
  });

  it('at random moments over many commands: readers stay consistent and Redis equals PostgreSQL after restart', async () => {
    const { store, redis, cache, child } = stack;
    const features = 4;
    const poller = new RedisPoller(redis, () => Array.from({ length: features }, (_, i) => ({ feature: `f${i}`, key: cache.key(`f${i}`) })));
    poller.start();
    const acknowledged: string[] = [];
    const killedAfter: number[] = [];
    try {
      for (let round = 0; round < 6; round++) {
        const writer = child({ mode: 'loop', run: `r${round}`, features });
        const n = 5 + Math.floor(Math.random() * 40);
        killedAfter.push(n);
        await writer.waitForLine((l) => l.startsWith(`APPLIED r${round}-${n - 1} `), `${n} commands applied in round ${round}`);
        await writer.kill9();
        acknowledged.push(...writer.lines.filter((l) => l.startsWith('APPLIED ')).map((l) => l.split(' ')[1]));
      }
      const restarted = child({ mode: 'reconcile' });
      expect(await restarted.exitCode()).toBe(0);
      await waitFor(redisEqualsPostgres, { timeoutMs: 10_000, message: 'Redis equal to PostgreSQL for every feature' });
    } finally {
      await poller.stop();
    }

    const context = `killed after ${JSON.stringify(killedAfter)} commands`;
    expect(poller.violations(await committedSnapshots(store.sql, store.schema)), context).toEqual([]);
    expect(poller.count(), context).toBeGreaterThan(features);
    // Every command the writer acknowledged is durable, and none applied twice.
    const { rows } = await store.sql.query<{ command_id: string }>(`SELECT command_id FROM "${store.schema}".applied_commands`);
    const applied = new Set(rows.map((r) => r.command_id));
    expect(acknowledged.filter((id) => !applied.has(id)), context).toEqual([]);
    const { rows: twice } = await store.sql.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM (SELECT command_id FROM "${store.schema}".audit_log GROUP BY command_id HAVING count(*) > 1) d`,
    );
    expect(Number(twice[0].n), context).toBe(0);
  }, 120_000);
});

// The whole write path on real PostgreSQL + Redis: command → PG transaction → outbox → Redis
// script → change notice, including replays, stale versions and a Redis outage. Run on one Redis
// node and on a Redis Cluster by the flag-writer*.test.ts files.

import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache, type RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { waitFor } from '../../helpers/services.js';
import { featureInSameSlot } from './key-slot.js';
import { countRows, openMigratedStore, pgDriver, rollback, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, NoticeRecorder, unreachableRedis, uniquePrefix } from './redis-fixture.js';
import type { RedisTarget } from './redis-target.js';
import { silentLogger } from '../../../src/core/logger.js';

export function describeFlagWriter(target: RedisTarget): void {
describe(`FlagWriter on PostgreSQL + ${target.name}`, () => {
  let store: MigratedStore;
  let repo: FlagRepository;
  let redis: RedisFlagClient;
  let prefix: string;
  let cache: RedisFlagCache;
  let notices: NoticeRecorder;
  const clock = new ManualClock(1_000);
  const errors: unknown[] = [];
  const toClose: { stop(): Promise<void> }[] = [];

  const writerWith = (c: RedisFlagCache) => {
    const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache: c, clock, pollIntervalMs: 0, onError: (e) => errors.push(e) });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock, onRelayError: (e) => errors.push(e) });
    toClose.push(writer);
    return { relay, writer };
  };
  const counts = async () => ({
    audit: await countRows(store.sql, store.schema, 'audit_log'),
    outbox: await countRows(store.sql, store.schema, 'outbox'),
    applied: await countRows(store.sql, store.schema, 'applied_commands'),
  });

  beforeAll(() => target.ensureUp(), 120_000);
  beforeEach(async () => {
    store = await openMigratedStore(pgDriver);
    repo = new FlagRepository(store.sql, store.schema);
    redis = target.connect();
    prefix = uniquePrefix();
    cache = new RedisFlagCache(redis, { keyPrefix: prefix });
    notices = await NoticeRecorder.subscribe(cache.channel, () => target.connect());
    errors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(toClose.splice(0).map((c) => c.stop()));
    await notices.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await store.close();
  });

  it('rolls a cohort back in PostgreSQL and Redis and announces the change', async () => {
    const { writer } = writerWith(cache);
    await writer.start();
    await writer.ensureGuarded('feat_smart_recs_v1', ['treatment']);
    expect(await notices.waitForCount(1)).toEqual(['feat_smart_recs_v1']);

    const cmd = rollback('feat_smart_recs_v1', 'treatment');
    await expect(writer.apply(cmd)).resolves.toEqual({ status: 'applied', version: 2 });

    const flag = await repo.getFlag('feat_smart_recs_v1');
    expect(flag).toMatchObject({ version: 2, cohorts: { treatment: { state: 'off', version: 2 } } });
    const [audit] = await repo.auditLog('feat_smart_recs_v1', 1);
    expect(audit).toMatchObject({ commandId: cmd.commandId, outcome: 'applied', fromState: 'on', toState: 'off' });
    expect(audit.evidence).toEqual(cmd.evidence);

    expect(await redis.hgetall(cache.key('feat_smart_recs_v1'))).toEqual({ version: '2', treatment: 'off' });
    expect(await notices.waitForCount(2)).toEqual(['feat_smart_recs_v1', 'feat_smart_recs_v1']);
    // The row reached Redis in the command; marking it published is batched, and stop flushes it.
    await writer.stop();
    expect(await repo.pendingOutbox(10)).toEqual([]);

    const m = writer.metrics();
    expect(m.commands).toEqual({ applied: 1, duplicate: 0, no_change: 0, skipped_pinned: 0 });
    expect(m.writeLatency.count).toBe(1);
    expect(m.writeLatency.buckets.at(-1)!.count).toBe(1);
    expect(m.relayFailures).toBe(0);
    expect(errors).toEqual([]);
  });

  it('changes nothing when a command is replayed', async () => {
    const { writer } = writerWith(cache);
    const cmd = rollback('feat', 'treatment');
    await writer.apply(cmd);
    await notices.waitForCount(1);
    const before = { ...(await counts()), redis: await redis.hgetall(cache.key('feat')), flag: await repo.getFlag('feat') };

    await expect(writer.apply(cmd)).resolves.toEqual({ status: 'duplicate', version: 1 });

    expect({ ...(await counts()), redis: await redis.hgetall(cache.key('feat')), flag: await repo.getFlag('feat') }).toEqual(before);
    expect(before).toMatchObject({ audit: 1, outbox: 1, applied: 1, redis: { version: '1', treatment: 'off' } });
    expect(writer.metrics().commands).toMatchObject({ applied: 1, duplicate: 1 });
    // A later, different change is the next notice: the replay published none.
    const marker = featureInSameSlot('feat', 'marker');
    await cache.writeFeature(marker, 1, { a: 'on' });
    expect(await notices.waitForCount(2)).toEqual(['feat', marker]);
  });

  it('never lets an older version from PostgreSQL overwrite a newer one in Redis', async () => {
    await cache.writeFeature('feat', 10, { treatment: 'on' });
    const { writer, relay } = writerWith(cache);
    await expect(writer.apply(rollback('feat', 'treatment'))).resolves.toEqual({ status: 'applied', version: 1 });
    await expect(relay.reconcile()).resolves.toBe(0);

    expect(await redis.hgetall(cache.key('feat'))).toEqual({ version: '10', treatment: 'on' });
    expect(await repo.pendingOutbox(10)).toEqual([]); // delivered: Redis already had something newer
  });

  it('commits while Redis is down, keeps the change pending, and catches up with a working Redis', async () => {
    const downClient = await unreachableRedis();
    const down = writerWith(new RedisFlagCache(downClient, { keyPrefix: prefix }));
    await down.writer.start(); // must not fail: PostgreSQL is the truth, Redis can catch up

    await expect(down.writer.apply(rollback('feat', 'treatment'))).resolves.toEqual({ status: 'applied', version: 1 });
    expect((await repo.getFlag('feat'))!.cohorts.treatment.state).toBe('off');
    expect(down.writer.metrics().relayFailures).toBe(1);
    expect(errors.some((e) => (e as { code?: string }).code === 'ERR_CACHE_UNAVAILABLE')).toBe(true);
    await expect(down.relay.relayOnce()).rejects.toMatchObject({ code: 'ERR_CACHE_UNAVAILABLE', retryable: true });
    expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([1]);
    expect(await redis.exists(cache.key('feat'))).toBe(0);
    downClient.disconnect();

    const up = writerWith(cache);
    await expect(up.relay.relayOnce()).resolves.toBe(1);
    expect(await repo.pendingOutbox(10)).toEqual([]);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { treatment: 'off' } });
    expect(await notices.waitForCount(1)).toEqual(['feat']);
  });

  it('reconciles Redis from PostgreSQL when it starts', async () => {
    await repo.applyCommand(rollback('f1', 'a'));
    await repo.applyCommand(rollback('f2', 'b'));
    await repo.markPublished((await repo.pendingOutbox(10)).map((o) => o.id)); // as if sent, then Redis lost them
    await cache.writeFeature('f2', 5, { b: 'on' }); // newer in Redis: must stay

    const { writer, relay } = writerWith(cache);
    await writer.start();

    await expect(cache.readFeature('f1')).resolves.toEqual({ version: 1, cohorts: { a: 'off' } });
    await expect(cache.readFeature('f2')).resolves.toEqual({ version: 5, cohorts: { b: 'on' } });
    expect(relay.stats()).toMatchObject({ reconciled: 1, failures: 0, diverged: 1 });
    // Redis ahead of the truth is reported, never silently kept or overwritten.
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STATE_CORRUPT', message: expect.stringMatching(/f2 is at v5, ahead of PostgreSQL \(v1/) })]);
  });

  it('writes only the newest snapshot of a feature when several are pending, in id order', async () => {
    const f2 = featureInSameSlot('f1', 'f2');
    for (const c of ['a', 'b', 'c']) await repo.applyCommand(rollback('f1', c));
    await repo.applyCommand(rollback(f2, 'a'));
    const { relay } = writerWith(cache);
    await expect(relay.relayOnce()).resolves.toBe(4);
    expect(await notices.waitForCount(2)).toEqual(['f1', f2]);
    await expect(cache.readFeature('f1')).resolves.toEqual({ version: 3, cohorts: { a: 'off', b: 'off', c: 'off' } });
  });

  it('pins through Redis at once and lets the sweep release a held rollback when the pin expires', async () => {
    const pinClock = new ManualClock(Date.parse('2026-03-01T12:00:00.000Z'));
    const pinRepo = new FlagRepository(store.sql, store.schema, { clock: pinClock });
    const relay = new OutboxRelay({ logger: silentLogger, repository: pinRepo, cache, clock: pinClock, pollIntervalMs: 0, onError: (e) => errors.push(e) });
    const sweepErrors: unknown[] = [];
    const writer = new FlagWriter({ logger: silentLogger, repository: pinRepo, relay, clock: pinClock, pinSweepIntervalMs: 1_000, onRelayError: (e) => errors.push(e), onPinSweepError: (e) => sweepErrors.push(e) });
    toClose.push(writer);
    await writer.start();
    await writer.ensureGuarded('feat', ['treatment']);
    await writer.apply(rollback('feat', 'treatment'));
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off' } });

    const until = new Date(pinClock.now() + 60_000).toISOString();
    await expect(writer.pin({ commandId: 'pin-1', feature: 'feat', cohort: 'treatment', state: 'on', until, actor: 'bob', reason: 'demo' })).resolves.toEqual({ status: 'applied', version: 3 });
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { treatment: 'on' } });
    const held = rollback('feat', 'treatment');
    await expect(writer.apply(held)).resolves.toEqual({ status: 'skipped_pinned', version: 3 });

    // Drive the clock a second at a time (the sweep's interval) until the sweep has done its work.
    const start = pinClock.now();
    await waitFor(
      async () => {
        if ((await cache.readFeature('feat'))?.version === 4) return true;
        pinClock.advance(1_000);
        return false;
      },
      { intervalMs: 5, message: 'sweep released the held rollback' },
    );
    expect(pinClock.now() - start).toBeGreaterThanOrEqual(60_000); // not before the pin ended
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 4, cohorts: { treatment: 'off' } });
    expect(writer.metrics().pins).toEqual({ pinned: 1, unpinned: 0, expired: 1, released: 1 });
    const [released] = await pinRepo.auditLog('feat', 1);
    expect(released).toMatchObject({ commandId: held.commandId, outcome: 'applied', version: 4 });
    expect(sweepErrors).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('stops idempotently, also before start', async () => {
    const { writer } = writerWith(cache);
    await Promise.all([writer.stop(), writer.stop()]);
    await writer.stop();
    await expect(writer.start()).rejects.toMatchObject({ code: 'ERR_STOPPED' });
  });
});
}

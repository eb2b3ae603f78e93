// One bad Redis key must not stop every flag push. Against the real Redis (unique key prefix) and
// PostgreSQL: one feature's key is a string (WRONGTYPE), another's stored version is not a number.
// Reconcile and the outbox drain hold those two apart, count them, name them in /readyz detail,
// and keep the others flowing; fixing a key lets the next reconcile release it.

import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../src/admin/admin-server.js';
import { MetricsRegistry } from '../../../src/admin/metrics-registry.js';
import { appMetrics } from '../../../src/app/app-metrics.js';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { ReceiverMetrics } from '../../../src/receiver/receiver-metrics.js';
import { openMigratedStore, pgDriver, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { redisClient, uniquePrefix } from './redis-fixture.js';

describe('per-feature isolation of Redis failures', () => {
  let store: MigratedStore;
  let repo: FlagRepository;
  let client: Redis;
  let prefix: string;
  let relay: OutboxRelay;
  let admin: AdminServer | undefined;
  const errors: unknown[] = [];

  beforeEach(async () => {
    errors.length = 0;
    store = await openMigratedStore(pgDriver);
    repo = new FlagRepository(store.sql, store.schema);
    client = redisClient();
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await admin?.stop();
    await relay?.stop();
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
    await store.close();
  });

  it('keeps the other features flowing, counts and names the bad ones, and releases a fixed key', async () => {
    const clock = new ManualClock(0);
    const cache = new RedisFlagCache(client, { keyPrefix: prefix });
    relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock, pollIntervalMs: 0, reconcileIntervalMs: 60_000, onError: (e) => errors.push(e) });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock, onRelayError: (e) => errors.push(e) });

    // Bad keys already there when the writer starts: reconcile meets them first.
    await client.set(cache.key('feat_wrongtype'), 'not a hash');
    await client.hset(cache.key('feat_nan'), 'version', 'seven', 'treatment', 'on');
    for (const f of ['feat_a', 'feat_wrongtype', 'feat_nan', 'feat_b']) await repo.ensureGuarded(f, ['treatment']);
    await writer.start();

    await expect(cache.readFeature('feat_a')).resolves.toEqual({ version: 1, cohorts: { treatment: 'on' } });
    await expect(cache.readFeature('feat_b')).resolves.toEqual({ version: 1, cohorts: { treatment: 'on' } });
    expect(relay.failingFeatures().map((f) => [f.feature, f.reason]).sort()).toEqual([['feat_nan', 'NOT_A_NUMBER'], ['feat_wrongtype', 'WRONGTYPE']]);

    // Rollbacks of all four: the good ones reach Redis, the bad ones stay pending.
    for (const f of ['feat_wrongtype', 'feat_a', 'feat_nan', 'feat_b']) {
      await expect(writer.apply(rollback(f, 'treatment'))).resolves.toMatchObject({ status: 'applied', version: 2 });
    }
    await expect(cache.readFeature('feat_a')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off' } });
    await expect(cache.readFeature('feat_b')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off' } });
    // Their rows, from registration (v1) and the rollback (v2), wait: PostgreSQL stays the truth.
    // (A relay run first marks the rows the commands sent straight to Redis.)
    await relay.relayOnce();
    expect((await repo.pendingOutbox(100)).map((r) => `${r.feature}@${r.version}`).sort()).toEqual(['feat_nan@1', 'feat_nan@2', 'feat_wrongtype@1', 'feat_wrongtype@2']);
    const stats = relay.stats();
    expect(stats).toMatchObject({ failingFeatures: 2, failures: 0, consecutiveFailures: 0 });
    expect(stats.featureFailures).toBeGreaterThanOrEqual(2);
    // One log line per bad feature, not one per attempt; none for the features that flowed.
    expect(errors.map((e) => (e as Error).message).filter((m) => /feat_(a|b)\b/.test(m))).toEqual([]);
    expect(errors.filter((e) => /Redis refuses flag feat_wrongtype/.test((e as Error).message))).toHaveLength(1);

    // /readyz stays ready and names them; /metrics counts them.
    const metrics = new MetricsRegistry();
    appMetrics(metrics, { receiver: new ReceiverMetrics(), relay, now: () => Date.now() });
    admin = new AdminServer({
      host: '127.0.0.1',
      port: 0,
      sources: {
        metrics,
        probes: [{ name: 'flag-cache', check: async () => { const failing = relay.failingFeatures(); return failing.length > 0 ? { failingFeatures: failing } : undefined; } }],
      },
    });
    await admin.start();
    const ready = await fetch(`http://127.0.0.1:${admin.port}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { checks: { name: string; ok: boolean; detail?: { failingFeatures: { feature: string; reason: string }[] } }[] };
    expect(body.checks[0].ok).toBe(true);
    expect(body.checks[0].detail!.failingFeatures.map((f) => f.feature).sort()).toEqual(['feat_nan', 'feat_wrongtype']);
    const text = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
    expect(text).toMatch(/^pmf_flag_cache_failing_features 2$/m);
    expect(text).toMatch(/^pmf_flag_cache_feature_failures_total [1-9]\d*$/m);

    // The operator deletes the bad keys; the next reconcile writes them from PostgreSQL and the
    // held outbox rows drain.
    await client.del(cache.key('feat_wrongtype'), cache.key('feat_nan'));
    clock.advance(60_000);
    await writer.apply(restore('feat_a', 'treatment'));
    await expect(cache.readFeature('feat_wrongtype')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off' } });
    await expect(cache.readFeature('feat_nan')).resolves.toEqual({ version: 2, cohorts: { treatment: 'off' } });
    await expect(cache.readFeature('feat_a')).resolves.toEqual({ version: 3, cohorts: { treatment: 'on' } });
    expect(relay.failingFeatures()).toEqual([]);
    expect(await repo.pendingOutbox(100)).toEqual([]);
  });
});

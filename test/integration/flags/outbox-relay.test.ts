// The relay's retry loop against a Redis that really goes away and comes back: a redis-server
// this test starts on its own port and kills by PID. Retries are driven by a ManualClock.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { waitFor } from '../../helpers/services.js';
import { openMigratedStore, pgDriver, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { RedisProcess } from '../../helpers/flags/own-redis.js';
import { freePort } from '../../helpers/free-port.js';
import { silentLogger } from '../../../src/core/logger.js';

describe('OutboxRelay with a Redis that goes down and comes back', () => {
  let store: MigratedStore;
  let repo: FlagRepository;
  let server: RedisProcess;
  let client: Redis;
  let dir: string;
  let relay: OutboxRelay;
  const clientErrors: Error[] = [];
  const relayErrors: unknown[] = [];

  beforeEach(async () => {
    clientErrors.length = 0;
    relayErrors.length = 0;
    store = await openMigratedStore(pgDriver);
    repo = new FlagRepository(store.sql, store.schema);
    dir = await mkdtemp(join(tmpdir(), 'pmf-redis-'));
    server = new RedisProcess(await freePort(), dir);
    await server.start();
    // Fail commands at once while disconnected, and reconnect on ioredis' own schedule.
    client = new Redis({ port: server.port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', (err) => clientErrors.push(err));
    await waitFor(() => client.status === 'ready', { message: 'client connected' });
  });
  afterEach(async () => {
    await relay?.stop();
    client.disconnect();
    await server.kill();
    await rm(dir, { recursive: true, force: true });
    await store.close();
  });

  it('keeps the change pending through the outage, backs off, and delivers once Redis is back', async () => {
    const clock = new ManualClock(0);
    const cache = new RedisFlagCache(client);
    relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock, pollIntervalMs: 0, retry: { initialMs: 100, maxMs: 400 }, onError: (e) => relayErrors.push(e) });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock, onRelayError: (e) => relayErrors.push(e) });
    await writer.start();
    await writer.ensureGuarded('feat', ['treatment']);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 1, cohorts: { treatment: 'on' } });

    await server.kill();
    await waitFor(() => client.status !== 'ready', { message: 'client noticed the outage' });

    await expect(writer.apply(rollback('feat', 'treatment'))).resolves.toEqual({ status: 'applied', version: 2 });
    await expect(writer.apply(restore('feat', 'treatment'))).resolves.toEqual({ status: 'applied', version: 3 });
    expect(relay.stats()).toMatchObject({ failures: 2, consecutiveFailures: 2 });

    // Backoff doubles: after 2 failures the next try is 200 ms out, then 400 (the cap), then 400.
    clock.advance(200);
    await waitFor(() => relay.stats().failures === 3, { message: 'third attempt' });
    clock.advance(400);
    await waitFor(() => relay.stats().failures === 4, { message: 'fourth attempt' });
    expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([2, 3]);

    await server.start();
    await waitFor(() => client.status === 'ready', { message: 'client reconnected' });
    clock.advance(400);
    await waitFor(async () => (await repo.pendingOutbox(10)).length === 0, { message: 'outbox drained' });

    expect(relay.stats()).toMatchObject({ failures: 4, consecutiveFailures: 0, published: 3 });
    // The restarted Redis is empty: the newest snapshot alone brings it up to date.
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { treatment: 'on' } });
    expect(relayErrors.length).toBe(4);
    expect(relayErrors.every((e) => (e as { code?: string }).code === 'ERR_CACHE_UNAVAILABLE')).toBe(true);
    expect(clientErrors.length).toBeGreaterThan(0);
  });

  it('sweeps the outbox on its poll interval while started', async () => {
    const clock = new ManualClock(0);
    relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache: new RedisFlagCache(client), clock, pollIntervalMs: 1_000, onError: (e) => relayErrors.push(e) });
    await relay.start();
    await repo.applyCommand(rollback('feat', 'treatment')); // written by "another process": nobody kicks the relay
    expect(await repo.pendingOutbox(10)).toHaveLength(1);
    clock.advance(1_000);
    await waitFor(async () => (await repo.pendingOutbox(10)).length === 0, { message: 'poll delivered the row' });
    expect(relayErrors).toEqual([]);
  });
});

// A Redis Cluster slot moves to another master while flags are written (test plan T16): the
// flag's one key moves with it, ioredis follows ASK and MOVED, no CROSSSLOT can occur (one key
// per script), and a polling reader still never sees a version go back.

import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { FlagState } from '../../../src/events/flag-command.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { OwnRedisCluster } from '../../helpers/flags/own-redis.js';
import { committedSnapshots, RedisPoller } from '../../helpers/flags/redis-poller.js';
import { waitFor } from '../../helpers/services.js';
import { openMigratedStore, pgDriver, type MigratedStore } from './flag-store-fixture.js';
import { silentLogger } from '../../../src/core/logger.js';

describe('flag writes during a Redis Cluster reshard', () => {
  let store: MigratedStore;
  let own: OwnRedisCluster;
  const cleanups: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await own?.dispose();
    await store?.close();
  });

  it('keeps every write and every reading in order while the slot moves', async () => {
    store = await openMigratedStore(pgDriver);
    own = await OwnRedisCluster.start();
    const client = own.client();
    const readerClient = own.client();
    cleanups.push(() => client.disconnect(), () => readerClient.disconnect());
    const repo = new FlagRepository(store.sql, store.schema);
    const cache = new RedisFlagCache(client);
    const errors: unknown[] = [];
    const relay = new OutboxRelay({ logger: silentLogger, repository: repo, cache, clock: systemClock, pollIntervalMs: 50, reconcileIntervalMs: 0, retry: { initialMs: 20, maxMs: 200 }, onError: (e) => errors.push(e) });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0, onRelayError: (e) => errors.push(e) });
    await writer.start();
    cleanups.push(() => writer.stop());
    await writer.ensureGuarded('feat', ['a', 'b', 'c']);

    const poller = new RedisPoller(readerClient, () => [{ feature: 'feat', key: cache.key('feat') }]);
    poller.start();
    cleanups.push(() => poller.stop());

    const before = await own.nodeFor(cache.key('feat'));
    let writing = true;
    let i = 0;
    const writes = (async () => {
      while (writing || i < 20) {
        const state: FlagState = i % 2 === 0 ? 'off' : 'on';
        await writer.apply({ commandId: `w-${i}`, feature: 'feat', cohort: ['a', 'b', 'c'][i % 3], action: state === 'off' ? 'rollback' : 'restore', state, source: 'verdict', reason: `#${i}`, issuedAt: new Date().toISOString() });
        i++;
      }
    })();
    await waitFor(() => i >= 10, { message: 'writes under way' });
    const after = await own.migrateSlotOf(cache.key('feat'));
    writing = false;
    await writes;

    expect(after.port).not.toBe(before.port);
    expect((await own.nodeFor(cache.key('feat'))).port).toBe(after.port);
    const truth = (await repo.featureSnapshot('feat'))!;
    await waitFor(async () => (await repo.pendingOutbox(10)).length === 0, { message: 'outbox drained' });
    await waitFor(() => poller.readings.get('feat')?.at(-1)?.version === truth.version, { message: 'reader at the final version' });
    await poller.stop();
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: truth.version, cohorts: truth.cohorts });
    expect(poller.violations(await committedSnapshots(store.sql, store.schema))).toEqual([]);
    expect(errors.filter((e) => /CROSSSLOT/.test(String((e as Error).message)))).toEqual([]);
  }, 90_000);
});

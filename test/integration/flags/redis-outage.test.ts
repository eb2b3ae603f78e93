// Redis goes away while commands are applied (test plan T13/T16 faults), on one node and on a
// three-master cluster whose node serving the flag's slot is killed: PostgreSQL commits, the
// outbox relay retries until Redis is back (empty, as a restart without persistence leaves it),
// then reconcile and the outbox bring it up to date. A reader polling throughout never sees an
// older version after a newer one, nor a body that was not committed with its version.

import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { RedisFlagCache, type RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { OwnRedis, OwnRedisCluster } from '../../helpers/flags/own-redis.js';
import { committedSnapshots, RedisPoller } from '../../helpers/flags/redis-poller.js';
import { waitFor } from '../../helpers/services.js';
import { openMigratedStore, pgDriver, restore, rollback, type MigratedStore } from './flag-store-fixture.js';
import { silentLogger } from '../../../src/core/logger.js';

interface OwnTarget {
  client(): RedisFlagClient;
  /** Takes down what serves `key`. */
  down(key: string): Promise<void>;
  up(): Promise<void>;
  dispose(): Promise<void>;
}

const targets: { name: string; start(): Promise<OwnTarget> }[] = [
  {
    name: 'one Redis node',
    async start() {
      const own = await OwnRedis.start();
      return { client: () => own.client(), down: () => own.down(), up: () => own.up(), dispose: () => own.dispose() };
    },
  },
  {
    name: 'Redis Cluster (the node serving the slot)',
    async start() {
      const own = await OwnRedisCluster.start();
      let killed: Awaited<ReturnType<OwnRedisCluster['nodeFor']>> | undefined;
      return {
        client: () => own.client(),
        async down(key) {
          killed = await own.nodeFor(key);
          await killed.kill();
        },
        async up() {
          await killed!.start();
          await own.waitHealthy();
        },
        dispose: () => own.dispose(),
      };
    },
  },
];

describe.each(targets)('flag writes while Redis is down: $name', ({ start }) => {
  let store: MigratedStore;
  let own: OwnTarget;
  const clients: RedisFlagClient[] = [];
  const stoppers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const stop of stoppers.splice(0)) await stop();
    for (const c of clients.splice(0)) c.disconnect();
    await own?.dispose();
    await store?.close();
  });

  it('commits in PostgreSQL, catches Redis up when it returns, and never shows a reader an older version', async () => {
    store = await openMigratedStore(pgDriver);
    own = await start();
    const connect = () => {
      const c = own.client();
      clients.push(c);
      return c;
    };
    const repo = new FlagRepository(store.sql, store.schema);
    const cache = new RedisFlagCache(connect());
    const relayErrors: unknown[] = [];
    const relay = new OutboxRelay({ logger: silentLogger,
      repository: repo,
      cache,
      clock: systemClock,
      pollIntervalMs: 50,
      reconcileIntervalMs: 0,
      retry: { initialMs: 20, maxMs: 200 },
      onError: (e) => relayErrors.push(e),
    });
    const writer = new FlagWriter({ logger: silentLogger, repository: repo, relay, clock: systemClock, pinSweepIntervalMs: 0, onRelayError: (e) => relayErrors.push(e) });
    stoppers.push(() => writer.stop());
    await writer.start();

    const poller = new RedisPoller(connect(), () => [{ feature: 'feat', key: cache.key('feat') }]);
    poller.start();
    stoppers.push(() => poller.stop());

    await writer.ensureGuarded('feat', ['a', 'b']);
    // A feature nobody touches during the outage: only a reconcile can bring it back.
    await writer.ensureGuarded('idle', ['a']);
    await writer.apply(rollback('feat', 'a'));
    await waitFor(() => poller.readings.get('feat')?.at(-1)?.version === 2, { message: 'reader saw v2' });

    await own.down(cache.key('feat'));
    await expect(writer.apply(rollback('feat', 'b'))).resolves.toEqual({ status: 'applied', version: 3 });
    await expect(writer.apply(restore('feat', 'a'))).resolves.toEqual({ status: 'applied', version: 4 });
    expect((await repo.featureSnapshot('feat'))!).toEqual({ feature: 'feat', version: 4, cohorts: { a: 'on', b: 'off' } });
    expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([3, 4]);
    const failuresWhileDown = relay.stats().failures;
    expect(failuresWhileDown).toBeGreaterThan(0);

    await own.up();
    await waitFor(async () => (await repo.pendingOutbox(10)).length === 0, { timeoutMs: 30_000, message: 'outbox drained after Redis returned' });
    await waitFor(() => poller.readings.get('feat')?.at(-1)?.version === 4, { timeoutMs: 30_000, message: 'reader saw v4' });
    await poller.stop();

    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 4, cohorts: { a: 'on', b: 'off' } });
    await waitFor(async () => (await cache.readFeature('idle'))?.version === 1, { message: 'untouched feature reconciled back' });
    expect(poller.violations(await committedSnapshots(store.sql, store.schema))).toEqual([]);
    expect(poller.failed + poller.missing).toBeGreaterThan(0); // the reader did live through the outage
    expect(relayErrors.every((e) => (e as { code?: string }).code === 'ERR_CACHE_UNAVAILABLE')).toBe(true);
  }, 90_000);
});

// The Redis side of the flag contract, run on one Redis node and on a Redis Cluster by the
// redis-flag-cache*.test.ts files: the key and channel names, the forward-only version guard,
// full-snapshot replacement, and validation that happens before any write.

import { Cluster } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { RedisFlagCache, WRITE_FEATURE_LUA, type RedisFlagClient } from '../../../src/flags/redis-flag-cache.js';
import { FLAG_CHANGE_CHANNEL as FLAG_CHANNEL, flagChannel, flagKey } from '../../../src/flags/redis-keys.js';
import { featureInSameSlot } from './key-slot.js';
import { deleteKeys, NoticeRecorder, unreachableRedis, uniquePrefix } from './redis-fixture.js';
import type { RedisTarget } from './redis-target.js';

export function describeRedisFlagCache(target: RedisTarget): void {
describe(`RedisFlagCache on ${target.name}`, () => {
  let redis: RedisFlagClient;
  let prefix: string;
  let cache: RedisFlagCache;
  let notices: NoticeRecorder;

  beforeAll(() => target.ensureUp(), 120_000);
  beforeEach(async () => {
    redis = target.connect();
    prefix = uniquePrefix();
    cache = new RedisFlagCache(redis, { keyPrefix: prefix });
    notices = await NoticeRecorder.subscribe(cache.channel, () => target.connect());
  });
  afterEach(async () => {
    await notices.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('uses the contract key and channel, with the test prefix in front', () => {
    expect(flagKey('feat_smart_recs_v1')).toBe('pmf:flag:{feat_smart_recs_v1}');
    expect(FLAG_CHANNEL).toBe('pmf:flags:changed');
    expect(cache.key('f')).toBe(`${prefix}pmf:flag:{f}`);
    expect(cache.channel).toBe(flagChannel(prefix));
  });

  it('writes a newer snapshot and publishes the feature name', async () => {
    await expect(cache.writeFeature('feat', 3, { control: 'on', treatment: 'off' })).resolves.toBe(true);
    expect(await redis.hgetall(cache.key('feat'))).toEqual({ version: '3', control: 'on', treatment: 'off' });
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 3, cohorts: { control: 'on', treatment: 'off' } });
    expect(await notices.waitForCount(1)).toEqual(['feat']);
  });

  it('never lets an older or equal version overwrite a newer one, and stays silent when it does nothing', async () => {
    await cache.writeFeature('feat', 5, { treatment: 'off' });
    await expect(cache.writeFeature('feat', 4, { treatment: 'on' })).resolves.toBe(false);
    await expect(cache.writeFeature('feat', 5, { treatment: 'on' })).resolves.toBe(false);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 5, cohorts: { treatment: 'off' } });

    // Notices published by one node arrive in order, so a notice from the no-ops would show
    // before the marker's (on a cluster the marker must live on feat's node: same slot).
    const marker = featureInSameSlot('feat', 'marker');
    await cache.writeFeature(marker, 1, { a: 'on' });
    expect(await notices.waitForCount(2)).toEqual(['feat', marker]);

    await expect(cache.writeFeature('feat', 6, { treatment: 'on' })).resolves.toBe(true);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 6, cohorts: { treatment: 'on' } });
  });

  it('returns null for a feature Redis does not have', async () => {
    await expect(cache.readFeature('missing')).resolves.toBeNull();
  });

  it('refuses bad arguments before writing', async () => {
    await expect(cache.writeFeature('feat', 0, { a: 'on' })).rejects.toThrow(/positive integer/);
    await expect(cache.writeFeature('feat', 1.5, { a: 'on' })).rejects.toThrow(/positive integer/);
    await expect(cache.writeFeature('feat', 1, { version: 'on' })).rejects.toThrow(/invalid cohort/);
    await expect(cache.writeFeature('feat', 1, { a: 'maybe' as 'on' })).rejects.toThrow(/on or off/);
    await expect(cache.writeFeature('', 1, { a: 'on' })).rejects.toThrow(/must not be empty/);
    expect(await redis.exists(cache.key('feat'))).toBe(0);
  });

  it('validates inside the script too, leaving the hash untouched on error', async () => {
    const key = cache.key('feat');
    await cache.writeFeature('feat', 1, { a: 'on' });
    const call = (...argv: string[]) => redis.eval(WRITE_FEATURE_LUA, 1, key, cache.channel, 'feat', ...argv);
    await expect(call('2', 'a', 'off', 'b', 'maybe')).rejects.toThrow(/state must be on or off/);
    await expect(call('2', 'a', 'off', 'version', 'on')).rejects.toThrow(/invalid cohort/);
    await expect(call('2', 'a')).rejects.toThrow(/pairs/);
    await expect(call('x', 'a', 'off')).rejects.toThrow(/positive integer/);
    expect(await redis.hgetall(key)).toEqual({ version: '1', a: 'on' });
  });

  it('reports a key of the wrong type as a non-retryable error without touching it', async () => {
    await redis.set(cache.key('feat'), 'not a hash');
    const err = await cache.writeFeature('feat', 1, { a: 'on' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PmfError);
    expect((err as PmfError).retryable).toBe(false);
    expect(await redis.get(cache.key('feat'))).toBe('not a hash');
  });

  it('loads the script again after the Redis script cache is flushed', async () => {
    await cache.writeFeature('feat', 1, { a: 'on' });
    // A cluster keeps a script cache per node: flush them all.
    for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) await node.script('FLUSH');
    await expect(cache.writeFeature('feat', 2, { a: 'off' })).resolves.toBe(true);
    await expect(cache.readFeature('feat')).resolves.toEqual({ version: 2, cohorts: { a: 'off' } });
  });

  it('reports an unreachable Redis as a retryable cache error', async () => {
    const client = await unreachableRedis();
    const down = new RedisFlagCache(client, { keyPrefix: prefix });
    const err = await down.writeFeature('feat', 1, { a: 'on' }).catch((e: unknown) => e);
    client.disconnect();
    expect(err).toBeInstanceOf(PmfError);
    expect(err).toMatchObject({ code: 'ERR_CACHE_UNAVAILABLE', retryable: true });
  });

  it('replaces the whole hash, so cohorts a diverged copy had extra disappear', async () => {
    await redis.hset(cache.key('feat'), 'version', '1', 'a', 'on', 'stray', 'off');
    await expect(cache.writeFeature('feat', 2, { a: 'off' })).resolves.toBe(true);
    expect(await redis.hgetall(cache.key('feat'))).toEqual({ version: '2', a: 'off' });
  });
});
}

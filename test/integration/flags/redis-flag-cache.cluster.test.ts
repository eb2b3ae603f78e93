// The cache suite on a three-master Redis Cluster, plus what only a cluster can show: every key
// the scripts touch for a feature hashes to one slot, whatever the feature name.

import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { hashSlot } from './key-slot.js';
import { deleteKeys, uniquePrefix } from './redis-fixture.js';
import { describeRedisFlagCache } from './redis-flag-cache-suite.js';
import { clusterClient, redisCluster } from './redis-target.js';

describeRedisFlagCache(redisCluster);

describe('flag keys on Redis Cluster', () => {
  let cluster: Cluster;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    await redisCluster.ensureUp();
    cluster = clusterClient();
  }, 120_000);
  afterAll(async () => {
    await deleteKeys(cluster, prefix);
    await cluster.quit();
  });

  it('hash every flag key on the feature name alone, prefix or not', async () => {
    const features = ['feat_smart_recs_v1', 'checkout', 'a:b', 'x'.repeat(200)];
    for (const feature of features) {
      const expected = await cluster.cluster('KEYSLOT', feature);
      expect(await cluster.cluster('KEYSLOT', new RedisFlagCache(cluster).key(feature))).toBe(expected);
      expect(await cluster.cluster('KEYSLOT', new RedisFlagCache(cluster, { keyPrefix: prefix }).key(feature))).toBe(expected);
    }
  });

  it('spreads features over the three masters and writes each on its own node', async () => {
    const cache = new RedisFlagCache(cluster, { keyPrefix: prefix });
    const features = Array.from({ length: 30 }, (_, i) => `spread_${i}`);
    for (const f of features) await cache.writeFeature(f, 1, { treatment: 'on' });

    const owners = new Set<string>();
    for (const node of cluster.nodes('master')) {
      const keys = await node.keys(`${prefix}*`);
      if (keys.length > 0) owners.add(`${node.options.host}:${node.options.port}`);
    }
    expect(owners.size).toBe(3);
    for (const f of features) await expect(cache.readFeature(f)).resolves.toEqual({ version: 1, cohorts: { treatment: 'on' } });
  });
});

describe('hashSlot (the test helper) agrees with the cluster', () => {
  it('for plain and hash-tagged keys', async () => {
    await redisCluster.ensureUp();
    const cluster = clusterClient();
    try {
      for (const key of ['feat', 'pmf:flag:{feat}', 'x:pmf:flag:{a:b}', 'no-tag', '{}', 'ünïcode']) {
        expect(hashSlot(key)).toBe(await cluster.cluster('KEYSLOT', key));
      }
    } finally {
      await cluster.quit();
    }
  });
});

// The set-up most flag tests start from: a migrated PostgreSQL schema with its repository, and a
// Redis client with a fresh key prefix and the flag cache on it. Each test still closes what it uses.

import type { Redis } from 'ioredis';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { openMigratedStore, pgDriver, type MigratedStore } from './flag-store-fixture.js';
import { redisClient, uniquePrefix } from './redis-fixture.js';

export interface FlagStack {
  store: MigratedStore;
  repo: FlagRepository;
  redis: Redis;
  prefix: string;
  cache: RedisFlagCache;
}

export async function openFlagStack(): Promise<FlagStack> {
  const store = await openMigratedStore(pgDriver);
  const redis = redisClient();
  const prefix = uniquePrefix();
  return { store, repo: new FlagRepository(store.sql, store.schema), redis, prefix, cache: new RedisFlagCache(redis, { keyPrefix: prefix }) };
}

// The set-up most flag tests start from: a migrated PostgreSQL schema with its repository, and a
// Redis client with a fresh key prefix and the flag cache on it; and, for the kill -9 tests, flag
// writer processes on that schema and prefix. close() removes what the stack made.

import type { Redis } from 'ioredis';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { ChildWriter, type ChildWriterEnv } from '../../helpers/flags/child-writer.js';
import { testServices } from '../../helpers/services.js';
import { openMigratedStore, pgDriver, type MigratedStore } from './flag-store-fixture.js';
import { deleteKeys, redisClient, uniquePrefix } from './redis-fixture.js';

export interface FlagStack {
  store: MigratedStore;
  repo: FlagRepository;
  redis: Redis;
  prefix: string;
  cache: RedisFlagCache;
  /** Deletes the test's Redis keys, closes the client and drops the store. */
  close(): Promise<void>;
}

export async function openFlagStack(): Promise<FlagStack> {
  const store = await openMigratedStore(pgDriver);
  const redis = redisClient();
  const prefix = uniquePrefix();
  const close = async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
    await store.close();
  };
  return { store, repo: new FlagRepository(store.sql, store.schema), redis, prefix, cache: new RedisFlagCache(redis, { keyPrefix: prefix }), close };
}

export interface WriterCrashStack extends FlagStack {
  /** A flag writer process on this stack's schema and key prefix (test/helpers/flags/flag-writer-child.ts). */
  child(e: Pick<ChildWriterEnv, 'mode'> & Partial<ChildWriterEnv>): ChildWriter;
}

/** A flag stack whose close() first kills -9 every writer process still running. */
export async function openWriterCrashStack(): Promise<WriterCrashStack> {
  const stack = await openFlagStack();
  const children: ChildWriter[] = [];
  const child = (e: Pick<ChildWriterEnv, 'mode'> & Partial<ChildWriterEnv>) => {
    const c = ChildWriter.spawn({ databaseUrl: testServices.databaseUrl, schema: stack.store.schema, redisUrl: testServices.redisUrl, keyPrefix: stack.prefix, ...e });
    children.push(c);
    return c;
  };
  const close = async () => {
    await Promise.all(children.splice(0).map((c) => c.kill9()));
    await stack.close();
  };
  return { ...stack, child, close };
}

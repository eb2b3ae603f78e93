// A flag writer in a process of its own, so a test can kill -9 it at chosen or random moments.
// Run with `node --import tsx test/helpers/flags/flag-writer-child.ts`; configured by env:
//   PMF_CHILD_DATABASE_URL, PMF_CHILD_SCHEMA, PMF_CHILD_REDIS_URL, PMF_CHILD_KEY_PREFIX
//   PMF_CHILD_MODE   reconcile: start (reconcile Redis from PostgreSQL, drain the outbox), exit 0
//                    stall: start, apply PMF_CHILD_COMMAND (JSON), and hang inside its first Redis write
//                    loop: start, then apply commands PMF_CHILD_RUN-<i> forever over PMF_CHILD_FEATURES features
// It reports on stdout, one line each: READY, REDIS_WRITE <feature> <version>, APPLIED <commandId> <status> <version>.

import pg from 'pg';
import { Redis } from 'ioredis';
import { systemClock } from '../../../src/core/clock.js';
import type { FlagCommand, FlagState } from '../../../src/events/flag-command.js';
import type { FlagCache } from '../../../src/flags/flag-cache.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { FlagWriter } from '../../../src/flags/flag-writer.js';
import { OutboxRelay } from '../../../src/flags/outbox-relay.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { RedisFlagCache } from '../../../src/flags/redis-flag-cache.js';
import { silentLogger } from '../../../src/core/logger.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const mode = env('PMF_CHILD_MODE');
const pool = new pg.Pool({ connectionString: env('PMF_CHILD_DATABASE_URL'), max: 2 });
const redis = new Redis(env('PMF_CHILD_REDIS_URL'));
const repository = new FlagRepository(new PgSqlClient(pool), env('PMF_CHILD_SCHEMA'));
const redisCache = new RedisFlagCache(redis, { keyPrefix: process.env.PMF_CHILD_KEY_PREFIX ?? '' });

let stallArmed = false;
const cache: FlagCache = {
  async writeFeature(feature, version, cohorts) {
    if (stallArmed) {
      say(`REDIS_WRITE ${feature} ${version}`);
      return new Promise<boolean>(() => {}); // PostgreSQL has committed; Redis never hears of it
    }
    return redisCache.writeFeature(feature, version, cohorts);
  },
  readFeature: (feature) => redisCache.readFeature(feature),
};

const relay = new OutboxRelay({ logger: silentLogger, repository, cache, clock: systemClock, pollIntervalMs: 0, reconcileIntervalMs: 0 });
const writer = new FlagWriter({ logger: silentLogger, repository, relay, clock: systemClock, pinSweepIntervalMs: 0, onRelayError: (err) => console.error(err) });

async function main(): Promise<void> {
  await writer.start();
  if (relay.stats().failures > 0) throw new Error('reconcile failed at start');
  say('READY');
  if (mode === 'reconcile') {
    await writer.stop();
    await pool.end();
    redis.disconnect();
    return;
  }
  if (mode === 'stall') {
    stallArmed = true;
    await writer.apply(JSON.parse(env('PMF_CHILD_COMMAND')) as FlagCommand);
    throw new Error('stall mode must hang in the Redis write');
  }
  if (mode === 'loop') {
    const run = env('PMF_CHILD_RUN');
    const features = Number(env('PMF_CHILD_FEATURES'));
    for (let i = 0; ; i++) {
      const state: FlagState = Math.random() < 0.5 ? 'on' : 'off';
      const cmd: FlagCommand = {
        commandId: `${run}-${i}`,
        feature: `f${i % features}`,
        cohort: `c${Math.floor(i / features) % 3}`,
        action: state === 'off' ? 'rollback' : 'restore',
        state,
        source: 'verdict',
        reason: `crash test ${run} #${i}`,
        issuedAt: new Date().toISOString(),
      };
      const result = await writer.apply(cmd);
      say(`APPLIED ${cmd.commandId} ${result.status} ${result.version}`);
    }
  }
  throw new Error(`unknown PMF_CHILD_MODE ${mode}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

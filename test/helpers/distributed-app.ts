// One pmf-guard app with every role in this process on the shared loopback Kafka, PostgreSQL and
// Redis (test/helpers/services.ts), under names of its own (topic prefix, consumer groups, schema,
// Redis key prefix, data directory) so that e2e tests can run beside each other; and the removal
// of all of them afterwards. The test keeps its own assertions and whatever drives the app.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildApp, type App } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RuleSet } from '../../src/rules/schema.js';
import { testServices, uniqueName } from './services.js';

export class DistributedTestApp {
  /** Lower-case and underscores only: valid as a topic prefix, a consumer group, a schema and a key prefix. */
  readonly id: string;
  readonly schema: string;
  readonly keyPrefix: string;
  /** For the test's own look at the app's tables. */
  readonly pool: pg.Pool;
  /** For the test's own look at the app's flag hashes. */
  readonly redis: Redis;
  private started: App | undefined;
  private dataDir: string | undefined;
  private stopped = false;

  constructor(private readonly prefix: string) {
    this.id = uniqueName(prefix).replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    this.schema = `pmf_${this.id}`;
    this.keyPrefix = `${this.id}:`;
    this.pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 2 });
    this.redis = new Redis(testServices.redisUrl);
  }

  /** Builds and starts the app; `env` adds to (or overrides) the loopback environment, e.g. a bearer token. */
  async start(rules: RuleSet, env: Record<string, string> = {}): Promise<App> {
    this.dataDir = mkdtempSync(join(tmpdir(), `pmf-${this.prefix}-`));
    const config = loadConfig({
      env: {
        KAFKA_BROKERS: testServices.kafkaBrokers.join(','),
        DATABASE_URL: testServices.databaseUrl,
        REDIS_URL: testServices.redisUrl,
        PMF_GUARD_TOPIC_PREFIX: `${this.id}.`,
        PMF_GUARD_DATABASE_SCHEMA: this.schema,
        PMF_GUARD_REDIS_KEY_PREFIX: this.keyPrefix,
        PMF_GUARD_PSEUDONYM_KEY: 'e2e-test-key-0123456789abcdef',
        PMF_GUARD_COMMAND_KEY: 'e2e-command-key-0123456789abcdef',
        PMF_GUARD_DATA_DIR: this.dataDir,
        PMF_GUARD_OTLP_GRPC_PORT: '0',
        PMF_GUARD_OTLP_HTTP_PORT: '0',
        PMF_GUARD_ADMIN_PORT: '0',
        ...env,
      },
    });
    // Three partitions, so the aggregator's per-partition watermarks are exercised as in production.
    this.started = await buildApp({ ...config, kafka: { ...config.kafka, groupPrefix: this.id, partitions: 3 } }, rules, { logger: silentLogger });
    await this.started.start();
    return this.started;
  }

  /** Stops the app (if it started), then drops its schema, deletes its Redis keys and its data directory. Once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.started?.stop();
    await this.pool.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await this.pool.end();
    const keys = await this.redis.keys(`${this.keyPrefix}*`);
    if (keys.length > 0) await this.redis.del(...keys);
    this.redis.disconnect();
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

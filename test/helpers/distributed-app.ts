// One pmf-guard app with every role in this process, under names of its own (topic prefix,
// consumer groups, schema, Redis key prefix, data directory) so that e2e tests can run beside each
// other; and the removal of all of them afterwards. Distributed (the default): on the shared
// loopback Kafka, PostgreSQL and Redis (test/helpers/services.ts). Embedded ({ embedded: true }):
// the embedded default in the data directory, touching none of those services. The test keeps its
// own assertions and whatever drives the app.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildApp, type App } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RuleSet } from '../../src/rules/schema.js';
import { testServices, uniqueName } from './services.js';

export interface TestAppOptions {
  /** The rules file the config names (the rules themselves are passed to start()). */
  rulesFile?: string;
  /** Changes the loaded config before the app is built, e.g. aggregation settings. */
  configure?: (config: Config) => Config;
}

export class DistributedTestApp {
  /** Lower-case and underscores only: valid as a topic prefix, a consumer group, a schema and a key prefix. */
  readonly id: string;
  readonly schema: string;
  readonly keyPrefix: string;
  private readonly embedded: boolean;
  private poolClient: pg.Pool | undefined;
  private redisClient: Redis | undefined;
  private started: { app: App; config: Config } | undefined;
  private dataDir: string | undefined;
  private stopped = false;

  constructor(private readonly prefix: string, options: { embedded?: boolean } = {}) {
    this.id = uniqueName(prefix).replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    this.schema = `pmf_${this.id}`;
    this.keyPrefix = `${this.id}:`;
    this.embedded = options.embedded ?? false;
  }

  /** For the test's own look at the app's tables (distributed only). */
  get pool(): pg.Pool {
    if (this.embedded) throw new Error(`${this.prefix}: an embedded app has no PostgreSQL`);
    return (this.poolClient ??= new pg.Pool({ connectionString: testServices.databaseUrl, max: 2 }));
  }

  /** For the test's own look at the app's flag hashes (distributed only). */
  get redis(): Redis {
    if (this.embedded) throw new Error(`${this.prefix}: an embedded app has no Redis`);
    return (this.redisClient ??= new Redis(testServices.redisUrl));
  }

  /** The config the app was built with. */
  get config(): Config {
    if (!this.started) throw new Error(`${this.prefix}: not started`);
    return this.started.config;
  }

  /** Builds and starts the app; `env` adds to (or overrides) the environment, e.g. a bearer token. */
  async start(rules: RuleSet, env: Record<string, string> = {}, o: TestAppOptions = {}): Promise<App> {
    this.dataDir = mkdtempSync(join(tmpdir(), `pmf-${this.prefix}-`));
    const local = { PMF_GUARD_DATA_DIR: this.dataDir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0' };
    const services = this.embedded
      ? {}
      : {
          KAFKA_BROKERS: testServices.kafkaBrokers.join(','),
          DATABASE_URL: testServices.databaseUrl,
          REDIS_URL: testServices.redisUrl,
          PMF_GUARD_TOPIC_PREFIX: `${this.id}.`,
          PMF_GUARD_DATABASE_SCHEMA: this.schema,
          PMF_GUARD_REDIS_KEY_PREFIX: this.keyPrefix,
          PMF_GUARD_PSEUDONYM_KEY: 'e2e-test-key-0123456789abcdef',
          PMF_GUARD_COMMAND_KEY: 'e2e-command-key-0123456789abcdef',
        };
    const loaded = loadConfig({ env: { ...local, ...services, ...env }, rulesFile: o.rulesFile });
    // Three partitions, so the aggregator's per-partition watermarks are exercised as in production.
    const placed = this.embedded ? loaded : { ...loaded, kafka: { ...loaded.kafka, groupPrefix: this.id, partitions: 3 } };
    const config = o.configure ? o.configure(placed) : placed;
    const app = await buildApp(config, rules, { logger: silentLogger });
    this.started = { app, config };
    await app.start();
    return app;
  }

  /** Stops the app (if it started), then drops its schema, deletes its Redis keys and its data directory. Once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.started?.app.stop();
    if (!this.embedded) {
      await this.pool.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
      await this.pool.end();
      const keys = await this.redis.keys(`${this.keyPrefix}*`);
      if (keys.length > 0) await this.redis.del(...keys);
      this.redis.disconnect();
    }
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// A rollout on Kafka, PostgreSQL and Redis, with a real OpenTelemetry SDK exporter and the real
// FlagClient reading Redis: the feature regresses once its second stage (10 %) exposes more users,
// and is rolled back: the Redis hash shows `off` and allocation 0 at one version, the control
// untouched, and the rollback's audit entry carries the failing verdict.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/build-app.js';
import { FlagClient } from '../../src/client/flag-client.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { flagKey } from '../../src/flags/redis-keys.js';
import { parseRules } from '../../src/rules/load.js';
import { RampDriver } from '../helpers/rollouts/ramp-driver.js';
import { adminApi, RAMP_FEATURE, rampRules, runRamp } from '../helpers/rollouts/ramp-run.js';
import { testServices, uniqueName } from '../helpers/services.js';

const TOKEN = 'rollout-e2e-token-0123456789';

describe('a rollout on Kafka, PostgreSQL and Redis', () => {
  let app: App;
  let dataDir: string;
  let client: FlagClient;
  let driver: RampDriver;
  const id = uniqueName('ramp').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  const schema = `pmf_${id}`;
  const keyPrefix = `${id}:`;
  const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 2 });
  const redis = new Redis(testServices.redisUrl);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pmf-ramp-'));
    const config = loadConfig({
      env: {
        KAFKA_BROKERS: testServices.kafkaBrokers.join(','),
        DATABASE_URL: testServices.databaseUrl,
        REDIS_URL: testServices.redisUrl,
        PMF_GUARD_TOPIC_PREFIX: `${id}.`,
        PMF_GUARD_DATABASE_SCHEMA: schema,
        PMF_GUARD_REDIS_KEY_PREFIX: keyPrefix,
        PMF_GUARD_PSEUDONYM_KEY: 'e2e-test-key-0123456789abcdef',
        PMF_GUARD_COMMAND_KEY: 'e2e-command-key-0123456789abcdef',
        PMF_GUARD_BEARER_TOKEN: TOKEN,
        PMF_GUARD_DATA_DIR: dataDir,
        PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0',
      },
    });
    app = await buildApp({ ...config, kafka: { ...config.kafka, groupPrefix: id, partitions: 3 } }, parseRules(rampRules()), { logger: silentLogger });
    await app.start();
    client = new FlagClient({ redis: testServices.redisUrl, keyPrefix, refreshIntervalMs: 0, features: [RAMP_FEATURE] });
    await client.start();
    driver = new RampDriver({
      endpoint: `http://127.0.0.1:${app.receiverPort()}`,
      token: TOKEN,
      feature: RAMP_FEATURE,
      startMs: Date.now() - 5 * 3600_000,
      // Small steps, so users served the old allocation after a decision stay few (see the embedded test).
      stepMs: 2 * 60_000,
      usersPerStep: 120,
      treatmentShare: 0.9,
      seed: 21,
      // The application: the real flag client, which records the evaluation on the active span.
      evaluate: (user, cohort) => client.evaluate(RAMP_FEATURE, { cohort, userId: user }),
      extraLatencyMs: (e) => (e.cohort === 'treatment' && (e.allocation?.percent ?? 0) >= 10 ? 450 : 0),
    });
  });

  afterAll(async () => {
    await driver?.close();
    await client?.stop();
    await app?.stop();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rolls back at stage 2: off and allocation 0 at one version in Redis, the control untouched', async () => {
    const key = flagKey(RAMP_FEATURE, keyPrefix);
    expect(await redis.hgetall(key)).toEqual({ version: '1', treatment: 'on', 'allocation:treatment': '1', 'salt:treatment': '', 'control:treatment': 'control' });
    const api = adminApi(() => `http://127.0.0.1:${app.adminPort()}`, TOKEN);
    const servedFlag = async () => {
      const h = await redis.hgetall(key);
      return { state: h.treatment, allocation: Number(h['allocation:treatment']), version: Number(h.version) };
    };
    const seen = await runRamp({ driver, api, servedFlag, maxSteps: 100, until: (o) => o.rollout.status === 'rolled-back' });
    expect([...new Set(seen.map((o) => o.rollout.percent))]).toEqual([1, 10, 0]);

    const hash = await redis.hgetall(key);
    expect(hash).toEqual({ version: '3', treatment: 'off', 'allocation:treatment': '0', 'salt:treatment': '', 'control:treatment': 'control' });
    expect(hash.control).toBeUndefined();
    const { rows } = await pool.query(`SELECT cohort, state, allocation::float AS allocation, version FROM ${schema}.flags WHERE feature = $1`, [RAMP_FEATURE]);
    expect(rows).toEqual([{ cohort: 'treatment', state: 'off', allocation: 0, version: '3' }]);
    const audit = await pool.query(
      `SELECT action, from_allocation::float AS "from", to_allocation::float AS "to", version, evidence FROM ${schema}.audit_log WHERE feature = $1 ORDER BY id`,
      [RAMP_FEATURE],
    );
    expect(audit.rows.map((r) => [r.action, r.from, r.to, Number(r.version)])).toEqual([
      ['register', null, 1, 1],
      ['advance', 1, 10, 2],
      ['rollback', 10, 0, 3],
    ]);
    expect(audit.rows[2].evidence).toMatchObject({ outcome: 'fail', cohort: 'treatment', rollout: { status: 'rolled-back' } });
    // Served as the application sees it: everyone gets the control now.
    expect(await client.evaluate(RAMP_FEATURE, { cohort: 'treatment', userId: 'anyone' })).toMatchObject({ cohort: 'control', enabled: false, reason: 'SPLIT' });
  }, 240_000);
});

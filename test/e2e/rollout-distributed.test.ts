// A rollout on Kafka, PostgreSQL and Redis, with a real OpenTelemetry SDK exporter and the real
// FlagClient reading Redis: the feature regresses once its second stage (10 %) exposes more users,
// and is rolled back: the Redis hash shows `off` and allocation 0 at one version, the control
// untouched, and the rollback's audit entry carries the failing verdict.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/build-app.js';
import { FlagClient } from '../../src/client/flag-client.js';
import { flagKey } from '../../src/flags/redis-keys.js';
import { parseRules } from '../../src/rules/load.js';
import { DistributedTestApp } from '../helpers/distributed-app.js';
import { RampDriver } from '../helpers/rollouts/ramp-driver.js';
import { adminApi, RAMP_FEATURE, rampRules, runRamp } from '../helpers/rollouts/ramp-run.js';
import { testServices } from '../helpers/services.js';

const TOKEN = 'rollout-e2e-token-0123456789';

describe('a rollout on Kafka, PostgreSQL and Redis', () => {
  let app: App;
  let client: FlagClient;
  let driver: RampDriver;
  const stack = new DistributedTestApp('ramp');
  const { keyPrefix, schema, pool, redis } = stack;

  beforeAll(async () => {
    app = await stack.start(parseRules(rampRules()), { PMF_GUARD_BEARER_TOKEN: TOKEN });
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
    await stack.stop();
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

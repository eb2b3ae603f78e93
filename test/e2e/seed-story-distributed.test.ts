// The seed story end to end on the distributed deployment: a real OpenTelemetry SDK exporter →
// pmf-guard (every role) → real Kafka topics → a fail verdict on pmf.verdicts.v1 → the treatment
// cohort off in PostgreSQL (with its audit row) and in Redis; the control untouched.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/build-app.js';
import { silentLogger } from '../../src/core/logger.js';
import { decodeFlagCommand, decodeVerdict } from '../../src/events/codec.js';
import type { Verdict } from '../../src/events/verdict.js';
import { KafkaLog } from '../../src/log/kafka/kafka-log.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { DistributedTestApp } from '../helpers/distributed-app.js';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { testServices, waitFor } from '../helpers/services.js';

describe('seed story on Kafka, PostgreSQL and Redis', () => {
  let app: App;
  const stack = new DistributedTestApp('e2e');
  const { id, schema, keyPrefix, pool, redis } = stack;
  const kafka = new KafkaLog({ logger: silentLogger, brokers: [...testServices.kafkaBrokers], clientId: `${id}-reader` });

  beforeAll(async () => {
    app = await stack.start(await loadRulesFile('test/fixtures/seed-rules.yaml'));
  });

  afterAll(async () => {
    await stack.stop();
    await kafka.close();
  });

  async function readTopic<T>(topic: string, decode: (b: Buffer) => T): Promise<T[]> {
    const out: T[] = [];
    for await (const batch of kafka.readAll!(topic)) for (const r of batch.records) out.push(decode(r.value));
    return out;
  }

  it('publishes a fail verdict for the treatment only and rolls the treatment back in PostgreSQL and Redis', async () => {
    expect(await redis.hget(`${keyPrefix}pmf:flag:{feat_smart_recs_v1}`, 'treatment')).toBe('on');

    await sendSeedScenario({ endpoint: `http://127.0.0.1:${app.receiverPort()}`, startMs: Date.now() - 5 * 3600_000 });

    const state = await waitFor(async () => ((await redis.hget(`${keyPrefix}pmf:flag:{feat_smart_recs_v1}`, 'treatment')) === 'off' ? 'off' : undefined), {
      timeoutMs: 120_000,
      intervalMs: 250,
      message: 'treatment flag in Redis did not turn off',
    });
    expect(state).toBe('off');

    const verdicts = await readTopic(app.topics.verdicts, decodeVerdict);
    const fails = verdicts.filter((v: Verdict) => v.outcome === 'fail');
    expect(fails.length).toBeGreaterThan(0);
    expect(new Set(fails.map((v) => v.cohort))).toEqual(new Set(['treatment']));
    expect(fails[0].metrics.latencyP95.status).toBe('fail');
    expect(fails[0].ruleVersion).toBe('seed-2024-q3');
    expect(Object.keys(fails[0].inputOffsets).length).toBeGreaterThan(0);

    const commands = await readTopic(app.topics.commands, decodeFlagCommand);
    expect(commands.map((c) => [c.cohort, c.action, c.state])).toEqual([['treatment', 'rollback', 'off']]);

    const flags = await pool.query(`SELECT cohort, state FROM ${schema}.flags WHERE feature = $1 ORDER BY cohort`, ['feat_smart_recs_v1']);
    expect(flags.rows).toEqual([{ cohort: 'treatment', state: 'off' }]);
    const audit = await pool.query(`SELECT cohort, to_state, outcome, evidence FROM ${schema}.audit_log WHERE feature = $1 AND to_state = 'off'`, ['feat_smart_recs_v1']);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ cohort: 'treatment', to_state: 'off', outcome: 'applied' });
    expect(audit.rows[0].evidence.outcome).toBe('fail');
    expect(audit.rows[0].evidence.metrics.latencyP95.status).toBe('fail');

    const hash = await redis.hgetall(`${keyPrefix}pmf:flag:{feat_smart_recs_v1}`);
    expect(hash.treatment).toBe('off');
    expect(hash.control).toBeUndefined();
    expect(Number(hash.version)).toBeGreaterThanOrEqual(2);
  });
});

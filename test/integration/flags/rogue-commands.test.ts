// The commands topic is a control plane: a flag-writer process on real Kafka, PostgreSQL and Redis
// applies only commands signed with the shared command key for features its rules declare. A
// rogue producer with access to the topic writes unsigned, wrongly signed, altered, undecodable
// and undeclared-feature commands: each is refused, counted by reason on /metrics and logged,
// and the good command behind them still applies.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../src/app/build-app.js';
import { loadConfig } from '../../../src/config/load.js';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import { commandKeyRing, signCommand } from '../../../src/events/command-signature.js';
import { encodeJson } from '../../../src/events/codec.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import type { LogProducer } from '../../../src/log/partitioned-log.js';
import { parseRules } from '../../../src/rules/load.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';
import { restore, rollback } from './flag-store-fixture.js';

const RULES = `
rules:
  - featureId: checkout
    activationThreshold: 0.1
    retentionThreshold: 0.1
    latencyP95Threshold: 500
    minCohortSize: 100
    evaluationWindowSeconds: 3600
    cohorts: { control: control, guarded: [treatment, beta] }
`;

describe('rogue producers on the commands topic', () => {
  const id = uniqueName('rogue');
  const schema = `pmf_${id}`;
  const sharedKey = randomBytes(32).toString('hex');
  const lines: string[] = [];
  let app: App;
  let dir: string;
  let kafka: KafkaLog;
  let producer: LogProducer;
  const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 1 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmf-rogue-'));
    const config = loadConfig({
      env: {
        KAFKA_BROKERS: testServices.kafkaBrokers.join(','), DATABASE_URL: testServices.databaseUrl, REDIS_URL: testServices.redisUrl,
        PMF_GUARD_TOPIC_PREFIX: `${id}.`, PMF_GUARD_DATABASE_SCHEMA: schema, PMF_GUARD_REDIS_KEY_PREFIX: `${id}:`,
        PMF_GUARD_COMMAND_KEY: sharedKey, PMF_GUARD_DATA_DIR: dir, PMF_GUARD_ADMIN_PORT: '0',
      },
      role: 'flag-writer',
    });
    const logger = createLogger('info', 'pmf-guard', (line) => void lines.push(line));
    app = await buildApp({ ...config, kafka: { ...config.kafka, groupPrefix: id, partitions: 1 } }, parseRules(RULES), { logger });
    await app.start();
    kafka = new KafkaLog({ brokers: [...testServices.kafkaBrokers], clientId: `${id}-rogue`, logLevel: 'nothing', logger: silentLogger });
    producer = kafka.producer('rogue');
    await producer.start();
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await kafka?.close();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (...values: (FlagCommand | Buffer)[]) =>
    producer.send(app.topics.commands, values.map((v) => ({ key: 'checkout', value: Buffer.isBuffer(v) ? v : encodeJson(v) })));
  const metrics = async () => (await fetch(`http://127.0.0.1:${app.adminPort()}/metrics`)).text();
  const sample = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);

  it('refuses and counts every command it cannot trust, and applies the signed one behind them', async () => {
    const ring = commandKeyRing([sharedKey]);
    const signedAltered = { ...signCommand(rollback('checkout', 'treatment'), ring), reason: 'rolled back by someone else' };
    await send(
      rollback('checkout', 'treatment'), // unsigned
      signCommand(rollback('checkout', 'treatment'), commandKeyRing([randomBytes(32).toString('hex')])), // another key
      signedAltered, // signed, then changed
      signCommand(restore('payments', 'treatment', { state: 'off', action: 'rollback' }), ring), // manual, for a feature no rule declares
      Buffer.from('{"not":"a command"}'),
      signCommand(rollback('checkout', 'beta'), ring), // the verdict stage's
    );
    await waitFor(async () => sample(await metrics(), 'pmf_flag_commands_total', 'status="applied"') === 1, { message: 'the signed command applied' });
    const text = await metrics();
    for (const reason of ['unsigned', 'unknown_key', 'bad_signature', 'undeclared_feature', 'malformed']) {
      expect(sample(text, 'pmf_flag_commands_refused_total', `reason="${reason}"`), reason).toBe(1);
    }
    const flag = await (await fetch(`http://127.0.0.1:${app.adminPort()}/v1/flags/checkout`)).json();
    expect(flag.cohorts.treatment.state).toBe('on');
    expect(flag.cohorts.beta.state).toBe('off');
    expect((await fetch(`http://127.0.0.1:${app.adminPort()}/v1/flags/payments`)).status).toBe(404);
    const refusals = lines.filter((l) => l.includes('ERR_COMMAND_REFUSED'));
    expect(refusals).toHaveLength(5);
    // The key never reaches the log.
    expect(lines.join('\n')).not.toContain(sharedKey);
  }, 60_000);
});

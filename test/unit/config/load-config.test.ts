import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { configDefaults, isDistributed } from '../../../src/config/schema.js';

describe('configuration', () => {
  it('defaults to the embedded mode with the documented ports', () => {
    const c = loadConfig({ env: {} });
    expect(c.role).toBe('all');
    expect(c.receiver.grpc.port).toBe(4317);
    expect(c.admin.port).toBe(8080);
    expect(isDistributed(c)).toEqual({ log: false, store: false, cache: false });
    expect(Object.isFrozen(c.kafka)).toBe(true);
  });

  it('fills a partly given group from its fields\' defaults and refuses a misspelt field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-config-'));
    const file = join(dir, 'pmf.yaml');
    writeFileSync(file, 'flagWriter: { outbox: { batchSize: 10 } }\nkafka: { consumerRetry: { retries: 2 } }\n');
    const c = loadConfig({ configFile: file, env: {} });
    expect(c.flagWriter.outbox).toMatchObject({ batchSize: 10, pollIntervalMs: configDefaults.flagWriter.outbox.pollIntervalMs });
    expect(c.flagWriter.pinSweepIntervalMs).toBe(configDefaults.flagWriter.pinSweepIntervalMs);
    expect(c.kafka.consumerRetry).toEqual({ ...configDefaults.kafka.consumerRetry, retries: 2 });
    writeFileSync(file, 'flagWriter: { outbox: { batchsize: 10 } }\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/batchsize/);
  });

  it('takes a sub-second verdict step in whole milliseconds and zero allowed lateness, for a low-latency loop', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-config-'));
    const file = join(dir, 'pmf.yaml');
    writeFileSync(file, 'verdict: { stepSeconds: 0.25 }\naggregation: { allowedLatenessSeconds: 0 }\n');
    const c = loadConfig({ configFile: file, env: {} });
    expect(c.verdict.stepSeconds).toBe(0.25);
    expect(c.aggregation.allowedLatenessSeconds).toBe(0);
    writeFileSync(file, 'verdict: { stepSeconds: 0.0005 }\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/verdict\.stepSeconds.*whole number of milliseconds/);
    writeFileSync(file, 'verdict: { stepSeconds: 0 }\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/verdict\.stepSeconds/);
  });

  it('selects the distributed adapters from KAFKA_BROKERS, DATABASE_URL and REDIS_URL', () => {
    const c = loadConfig({ env: { KAFKA_BROKERS: 'k1:9092, k2:9092', DATABASE_URL: 'postgres://u@db/pmf', REDIS_URL: 'redis://cache:6379', PMF_GUARD_COMMAND_KEY_FILE: '/run/secrets/command_key' } });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(isDistributed(c)).toEqual({ log: true, store: true, cache: true });
  });

  it('merges a YAML file under environment overrides and the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-config-'));
    const file = join(dir, 'pmf.yaml');
    writeFileSync(file, 'role: receiver\nadmin: { port: 9000 }\nkafka: { topicPrefix: "prod." }\n');
    const c = loadConfig({ configFile: file, env: { PMF_GUARD_ADMIN_PORT: '9100' }, rulesFile: 'r.yaml', role: 'verdict' });
    expect(c.admin.port).toBe(9100);
    expect(c.kafka.topicPrefix).toBe('prod.');
    expect(c.role).toBe('verdict');
    expect(c.rulesFile).toBe('r.yaml');
  });

  it('reports every problem with the path and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'kafka: { brokers: ["nohost"], partitions: 0 }\nadmin: { port: 4317 }\nrecievr: {}\n');
    let message = '';
    try {
      loadConfig({ configFile: file, env: { DATABASE_URL: 'mysql://x' } });
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code?: string }).code).toBe('ERR_CONFIG_INVALID');
    }
    expect(message).toMatch(/kafka\.brokers\[0\]: a broker is host:port/);
    expect(message).toMatch(/kafka\.partitions/);
    expect(message).toMatch(/database\.url: database\.url must start with postgres/);
    expect(message).toMatch(/unknown key\(s\) "recievr"/);
    expect(message).toMatch(/admin\.port.*pick two ports/);
  });

  it('refuses Kafka without PostgreSQL for the stateful roles, whose checkpoints the group must share', () => {
    expect(() => loadConfig({ env: { KAFKA_BROKERS: 'k:9092' } })).toThrow(/database\.url: with Kafka, the all role keeps its checkpoints in PostgreSQL: set DATABASE_URL/);
    expect(() => loadConfig({ env: { KAFKA_BROKERS: 'k:9092' }, role: 'aggregator' })).toThrow(/aggregator role/);
    expect(loadConfig({ env: { KAFKA_BROKERS: 'k:9092' }, role: 'receiver' }).role).toBe('receiver');
  });

  it("refuses PostgreSQL waits that outlast the Kafka session, saying which to lower", () => {
    const env = { KAFKA_BROKERS: 'k:9092', DATABASE_URL: 'postgres://u@db/pmf' };
    const dir = mkdtempSync(join(tmpdir(), 'pmf-config-'));
    const file = join(dir, 'waits.yaml');
    writeFileSync(file, 'kafka: { sessionTimeoutMs: 10000 }\ndatabase: { idleInTransactionTimeoutMs: 10000, lockTimeoutMs: 12000, statementTimeoutMs: 30000 }\n');
    let message = '';
    try {
      loadConfig({ configFile: file, env, role: 'aggregator' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/database\.idleInTransactionTimeoutMs: database\.idleInTransactionTimeoutMs \(10000\) must be below kafka\.sessionTimeoutMs \(10000\): .*; lower database\.idleInTransactionTimeoutMs \(e\.g\. to 5000\) or raise kafka\.sessionTimeoutMs/);
    expect(message).toMatch(/database\.lockTimeoutMs: database\.lockTimeoutMs \(12000\) must be below kafka\.sessionTimeoutMs/);
    expect(message).toMatch(/database\.statementTimeoutMs: database\.statementTimeoutMs \(30000\) must be below kafka\.sessionTimeoutMs/);
    // The defaults fit the default session; 0 leaves a wait to the server's setting; embedded mode has no Kafka session.
    expect(loadConfig({ env, role: 'aggregator' }).database).toMatchObject({ idleInTransactionTimeoutMs: 15_000, lockTimeoutMs: 5000, statementTimeoutMs: 20_000 });
    writeFileSync(file, 'kafka: { sessionTimeoutMs: 10000 }\ndatabase: { idleInTransactionTimeoutMs: 5000, lockTimeoutMs: 0, statementTimeoutMs: 0 }\n');
    expect(loadConfig({ configFile: file, env, role: 'aggregator' }).database.lockTimeoutMs).toBe(0);
    writeFileSync(file, 'kafka: { sessionTimeoutMs: 10000 }\ndatabase: { idleInTransactionTimeoutMs: 10000 }\n');
    expect(loadConfig({ configFile: file, env: {} }).database.idleInTransactionTimeoutMs).toBe(10_000);
  });

  it('says which file it could not read', () => {
    expect(() => loadConfig({ configFile: '/nonexistent/pmf.yaml', env: {} })).toThrow(/cannot read config file \/nonexistent\/pmf\.yaml/);
  });
});

describe('Kafka security and durability settings', () => {
  const kafka = { KAFKA_BROKERS: 'k1:9092', DATABASE_URL: 'postgres://u@db/pmf' };

  it('asks for a command key in the roles that sign or check commands, saying how to make one', () => {
    for (const role of ['all', 'verdict', 'flag-writer'] as const) {
      expect(() => loadConfig({ env: kafka, role })).toThrow(/commands\.signingKeyFile: with Kafka, the .* role signs or checks flag commands: set PMF_GUARD_COMMAND_KEY_FILE \(e\.g\. `openssl rand -hex 32/);
    }
    expect(loadConfig({ env: kafka, role: 'aggregator' }).commands).toEqual({});
    expect(loadConfig({ env: { ...kafka, PMF_GUARD_COMMAND_KEY_FILE: '/k' }, role: 'verdict' }).commands.signingKeyFile).toBe('/k');
  });

  it('reads TLS and SASL from the environment, the password from a file', () => {
    const c = loadConfig({
      env: {
        ...kafka, PMF_GUARD_KAFKA_TLS_CA_FILE: '/ca.pem', PMF_GUARD_KAFKA_TLS_CERT_FILE: '/c.pem', PMF_GUARD_KAFKA_TLS_KEY_FILE: '/k.pem',
        PMF_GUARD_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', PMF_GUARD_KAFKA_SASL_USERNAME: 'pmf', PMF_GUARD_KAFKA_SASL_PASSWORD_FILE: '/pw',
      },
      role: 'aggregator',
    });
    expect(c.kafka.tls).toEqual({ caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', rejectUnauthorized: true });
    expect(c.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'pmf', passwordFile: '/pw' });
    expect(loadConfig({ env: { ...kafka, PMF_GUARD_KAFKA_TLS: 'true' }, role: 'receiver' }).kafka.tls).toEqual({ rejectUnauthorized: true });
  });

  it('refuses half a client certificate, SASL without a password, and min.insync.replicas above the replication factor', () => {
    const attempt = (env: Record<string, string>) => () => loadConfig({ env: { ...kafka, ...env }, role: 'aggregator' });
    expect(attempt({ PMF_GUARD_KAFKA_TLS_CERT_FILE: '/c.pem' })).toThrow(/kafka\.tls needs certFile and keyFile together/);
    expect(attempt({ PMF_GUARD_KAFKA_SASL_MECHANISM: 'plain', PMF_GUARD_KAFKA_SASL_USERNAME: 'u' })).toThrow(/exactly one of password or passwordFile/);
    expect(attempt({ PMF_GUARD_KAFKA_REPLICATION_FACTOR: '2', PMF_GUARD_KAFKA_MIN_INSYNC_REPLICAS: '3' })).toThrow(/kafka\.minInsyncReplicas \(3\) must be at most kafka\.replicationFactor \(2\)/);
  });

  it('defaults to replication factor 3, min.insync.replicas 2 and an explicit retention per topic', () => {
    const c = loadConfig({ env: {} });
    expect(c.kafka.replicationFactor).toBe(3);
    expect(c.kafka.minInsyncReplicas).toBe(2);
    expect(c.kafka.retentionMs).toEqual({ events: 14 * 86_400_000, cohortStats: 14 * 86_400_000, verdicts: 30 * 86_400_000, commands: 30 * 86_400_000 });
  });
});

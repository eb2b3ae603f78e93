// Kafka as an authenticated control plane: pmf-guard's log reaches a broker that demands TLS and
// SASL, configured the way an operator would (environment variables and files, the password in a
// file). The broker is private to this test (scripts/stack.sh KAFKA_SECURE=1 on its own port and
// directory, with a throwaway CA, certificates and SCRAM user made at test time); the shared
// broker is never touched.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLog } from '../../../src/app/create-log.js';
import { systemClock } from '../../../src/core/clock.js';
import { PmfError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { loadConfig } from '../../../src/config/load.js';
import type { PartitionedLog } from '../../../src/log/partitioned-log.js';
import { uniqueName } from '../../helpers/services.js';

const run = promisify(execFile);
const port = Number(process.env.PMF_TEST_KAFKA_SECURE_PORT ?? '9692');
const listeners = { saslSsl: port + 2, saslPlaintext: port + 3, ssl: port + 4 };
const stackScript = fileURLToPath(new URL('../../../scripts/stack.sh', import.meta.url));

describe('Kafka with TLS and SASL (private broker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-kafka-secure-'));
  const kafkaDir = join(dir, 'kafka');
  const tls = join(kafkaDir, 'tls');
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(dir, 'sasl-password');
  const wrongPasswordFile = join(dir, 'wrong-password');
  const logLines: string[] = [];
  const logs: PartitionedLog[] = [];
  const stackEnv = {
    ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), KAFKA_DIR: kafkaDir,
    KAFKA_SECURE: '1', KAFKA_SASL_PASSWORD: password,
  };

  beforeAll(async () => {
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(wrongPasswordFile, 'not-the-password\n', { mode: 0o600 });
    await run('bash', [stackScript, 'up', 'kafka'], { env: stackEnv, timeout: 300_000 });
  }, 320_000);

  afterAll(async () => {
    for (const log of logs) await log.close().catch(() => undefined);
    await run('bash', [stackScript, 'stop', 'kafka'], { env: stackEnv, timeout: 120_000 });
    rmSync(dir, { recursive: true, force: true });
  }, 130_000);

  /** A log built from environment variables only, as `pmf-guard start` would build it. */
  const logFrom = (brokerPort: number, env: Record<string, string>) => {
    const config = loadConfig({ env: { KAFKA_BROKERS: `127.0.0.1:${brokerPort}`, ...env }, role: 'receiver' });
    const log = createLog(config, systemClock, createLogger('warn', 'test', (l) => void logLines.push(l)));
    logs.push(log);
    return log;
  };

  /** Creates a topic, writes a record and reads it back. */
  const roundTrip = async (log: PartitionedLog) => {
    const topic = uniqueName('secure');
    await log.ensureTopics([{ name: topic, partitions: 1, retentionMs: 3_600_000 }]);
    const producer = log.producer('secure-test');
    await producer.start();
    await producer.send(topic, [{ key: 'k', value: Buffer.from('hello') }]);
    await producer.stop();
    const values: string[] = [];
    for await (const batch of log.readAll!(topic)) values.push(...batch.records.map((r) => r.value.toString()));
    return values;
  };

  const refusal = async (log: PartitionedLog) => {
    const err = await log.ensureTopics([{ name: uniqueName('refused'), partitions: 1 }]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PmfError);
    return err as PmfError;
  };

  const caEnv = { PMF_GUARD_KAFKA_TLS_CA_FILE: join(tls, 'ca.pem') };
  const sasl = (mechanism: string, file = passwordFile) => ({
    PMF_GUARD_KAFKA_SASL_MECHANISM: mechanism, PMF_GUARD_KAFKA_SASL_USERNAME: 'pmf', PMF_GUARD_KAFKA_SASL_PASSWORD_FILE: file,
  });

  it('works over SASL_SSL with SCRAM-SHA-512, checking the broker against the given CA', async () => {
    expect(await roundTrip(logFrom(listeners.saslSsl, { ...caEnv, ...sasl('SCRAM-SHA-512') }))).toEqual(['hello']);
  }, 60_000);

  it('works over SASL_SSL with PLAIN, and over SASL_PLAINTEXT with SCRAM-SHA-256', async () => {
    expect(await roundTrip(logFrom(listeners.saslSsl, { ...caEnv, ...sasl('PLAIN') }))).toEqual(['hello']);
    expect(await roundTrip(logFrom(listeners.saslPlaintext, sasl('SCRAM-SHA-256')))).toEqual(['hello']);
  }, 60_000);

  it('works over TLS with a client certificate when the broker requires one', async () => {
    const mtls = { ...caEnv, PMF_GUARD_KAFKA_TLS_CERT_FILE: join(tls, 'client.pem'), PMF_GUARD_KAFKA_TLS_KEY_FILE: join(tls, 'client.key') };
    expect(await roundTrip(logFrom(listeners.ssl, mtls))).toEqual(['hello']);
  }, 60_000);

  it('is refused with a wrong password, without a client certificate, and by a broker its CAs do not vouch for', async () => {
    await refusal(logFrom(listeners.saslSsl, { ...caEnv, ...sasl('SCRAM-SHA-512', wrongPasswordFile) }));
    await refusal(logFrom(listeners.saslPlaintext, sasl('PLAIN', wrongPasswordFile)));
    await refusal(logFrom(listeners.ssl, caEnv));
    // System CAs only: the throwaway CA is unknown, so the broker is not trusted.
    await refusal(logFrom(listeners.saslSsl, { PMF_GUARD_KAFKA_TLS: 'true', ...sasl('SCRAM-SHA-512') }));
    // Neither password ever reaches pmf-guard's log.
    const text = logLines.join('\n');
    expect(text).not.toContain(password);
    expect(text).not.toContain('not-the-password');
  }, 120_000);
});

// TLS and SASL options for kafkajs, from file paths and a password given by the configuration.
// Files are read once at start; a missing or unreadable one stops start-up with its path and the
// setting to fix. Secrets go to kafkajs only: they are never logged or put in error messages.

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import { PmfError } from '../../core/errors.js';

export interface KafkaTlsSettings {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface KafkaSaslSettings {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password?: string;
  passwordFile?: string;
}

function read(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PmfError('ERR_CONFIG_INVALID', `cannot read ${setting} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function kafkaTlsOptions(tls: KafkaTlsSettings | undefined): ConnectionOptions | undefined {
  if (!tls) return undefined;
  return {
    ...(tls.caFile ? { ca: [read(tls.caFile, 'kafka.tls.caFile')] } : {}),
    ...(tls.certFile ? { cert: read(tls.certFile, 'kafka.tls.certFile') } : {}),
    ...(tls.keyFile ? { key: read(tls.keyFile, 'kafka.tls.keyFile') } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

export function kafkaSaslOptions(sasl: KafkaSaslSettings | undefined): SASLOptions | undefined {
  if (!sasl) return undefined;
  const password = sasl.passwordFile ? read(sasl.passwordFile, 'kafka.sasl.passwordFile').replace(/\r?\n$/, '') : sasl.password;
  if (!password) throw new PmfError('ERR_CONFIG_INVALID', 'kafka.sasl needs a password: set PMF_GUARD_KAFKA_SASL_PASSWORD_FILE (kafka.sasl.passwordFile)');
  return { mechanism: sasl.mechanism, username: sasl.username, password } as SASLOptions;
}

// Where the HMAC key for user ids comes from: config/env, a file, or (embedded mode only) a key
// generated once and kept in the data directory so pseudonyms stay stable across restarts.
// The key itself is never logged.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PmfError } from '../core/errors.js';
import type { Config } from '../config/schema.js';

export function resolvePseudonymKey(config: Config, embedded: boolean): { key: string; source: string } {
  const r = config.receiver;
  if (r.pseudonymKey) return { key: r.pseudonymKey, source: 'config/PMF_GUARD_PSEUDONYM_KEY' };
  if (r.pseudonymKeyFile) {
    let key: string;
    try {
      key = readFileSync(r.pseudonymKeyFile, 'utf8').trim();
    } catch (err) {
      throw new PmfError('ERR_CONFIG_INVALID', `cannot read receiver.pseudonymKeyFile ${r.pseudonymKeyFile}: ${(err as Error).message}`);
    }
    if (key.length < 16) throw new PmfError('ERR_CONFIG_INVALID', `the key in ${r.pseudonymKeyFile} must be at least 16 characters`);
    return { key, source: r.pseudonymKeyFile };
  }
  if (!embedded) {
    throw new PmfError(
      'ERR_CONFIG_INVALID',
      'the receiver needs a pseudonymisation key when it writes to Kafka: set PMF_GUARD_PSEUDONYM_KEY or PMF_GUARD_PSEUDONYM_KEY_FILE ' +
        '(e.g. `openssl rand -hex 32 > key && export PMF_GUARD_PSEUDONYM_KEY_FILE=$PWD/key`); every receiver must share the same key',
    );
  }
  const file = join(config.dataDir, 'pseudonym.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return { key: readFileSync(file, 'utf8').trim(), source: file };
}

// Where the HMAC key for user ids comes from: config/env, a file, or (embedded mode only) a key
// generated once and kept in the data directory so pseudonyms stay stable across restarts.
// The key itself is never logged.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  mkdirSync(config.dataDir, { recursive: true });
  createOnce(file, randomBytes(32).toString('hex'));
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < 16) throw new PmfError('ERR_CONFIG_INVALID', `${file} holds no usable key (under 16 characters); remove it to generate a new one`);
  return { key, source: file };
}

/**
 * Creates `file` with `content` unless it exists, never leaving a torn or empty key behind: the
 * key is written to a private temporary file and fsynced, then hard-linked into place, which
 * fails if another process got there first (its key then wins, and both read the same). Not
 * check-then-write: two processes starting together on one data dir must not end with two keys,
 * and a crash must not leave a half-written key that would silently re-key every user.
 */
export function createOnce(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new PmfError('ERR_CONFIG_INVALID', `cannot create ${file}: ${(err as Error).message}`);
  } finally {
    unlinkSync(tmp);
  }
  // The new directory entry must be durable too, or a crash can lose the link after the key was used.
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

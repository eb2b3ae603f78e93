// The SQL port the flag store is written against, so one implementation serves PostgreSQL (pg)
// in the distributed deployment and PGlite in the embedded one.

import { PmfError } from '../core/errors.js';

export type SqlRow = Record<string, unknown>;

export interface SqlQueryable {
  query<T = SqlRow>(text: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
}

export interface SqlClient extends SqlQueryable {
  /** Runs fn in one transaction: committed if fn resolves, rolled back (and rethrown) if it throws. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}

// SQLSTATE classes a retry can fix: connection exceptions (08), serialization failures and
// deadlocks (40), insufficient resources (53), operator intervention such as a restart or a
// statement_timeout (57).
const RETRYABLE_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57']);
// lock_timeout (55P03, lock_not_available): another session holds the row; a later try can get it.
const LOCK_NOT_AVAILABLE = '55P03';
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** Wraps a driver error as a PmfError that says whether retrying can help. */
export function toStoreError(err: unknown, what: string): PmfError {
  if (err instanceof PmfError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  const message = err instanceof Error ? err.message : String(err);
  if ((RETRYABLE_SQLSTATE_CLASSES.has(code.slice(0, 2)) && /^[0-9A-Z]{5}$/.test(code)) || code === LOCK_NOT_AVAILABLE) {
    const conflict = code.startsWith('40') || code === LOCK_NOT_AVAILABLE;
    return new PmfError(conflict ? 'ERR_STORE_CONFLICT' : 'ERR_STORE_UNAVAILABLE', `${what}: ${message} (SQLSTATE ${code})`, {
      retryable: true,
      cause: err,
    });
  }
  if (RETRYABLE_NODE_CODES.has(code) || /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return new PmfError('ERR_STORE_UNAVAILABLE', `${what}: ${message}`, { retryable: true, cause: err });
  }
  return new PmfError('ERR_INTERNAL', `${what}: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}

/** Quotes a PostgreSQL identifier (schema names come from config and tests). */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.length > 63) {
    throw new PmfError('ERR_CONFIG_INVALID', `invalid PostgreSQL schema name "${name}": must be 1-63 characters`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

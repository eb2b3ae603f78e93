// The PostgreSQL connection pool of the distributed roles. Its sessions end a transaction left
// idle for idleInTransactionTimeoutMs (PostgreSQL closes the session, which rolls it back): a
// member frozen inside a transaction (SIGSTOP, a stalled VM, a long swap) keeps that transaction's
// row locks for as long as it sleeps, and whoever needs the rows waits without an error — the
// member that took over a frozen aggregator's partitions waited on its checkpoint rows forever.
// Our transactions are a few short statements, so an idle gap that long means a stalled process.

import pg from 'pg';
import type { Logger } from '../core/logger.js';

export interface PgPoolSettings {
  url?: string;
  idleInTransactionTimeoutMs: number;
}

const POOL_SIZE = 10;

export function openPgPool(settings: PgPoolSettings, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: POOL_SIZE,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
  });
  pool.on('error', (err) => logger.warn('idle PostgreSQL connection failed', { err }));
  return pool;
}

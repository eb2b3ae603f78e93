// The PostgreSQL connection pool of the distributed roles. Every wait on the database is bounded,
// because a wait without an error is a stage that stops without a trace:
//  - a session idle inside a transaction for idleInTransactionTimeoutMs is ended (PostgreSQL
//    closes it, which rolls it back): a member frozen inside a transaction (SIGSTOP, a stalled VM,
//    a long swap) keeps that transaction's row locks for as long as it sleeps, and whoever needs the
//    rows waits — the member that took over a frozen aggregator's partitions waited on its
//    checkpoint rows forever. Our transactions are a few short statements, so an idle gap that long
//    means a stalled process;
//  - a statement waiting lockTimeoutMs for a lock fails (SQLSTATE 55P03): the holder may be alive
//    but stuck (a long statement, a client that never ends its transaction), which the idle
//    timeout does not end;
//  - a statement running statementTimeoutMs fails (57014), whatever it waits on (migrations and
//    checkpoint loads lift it for their transaction: they may rightly run long).
// Both failures are retryable store errors (sql-client.ts): the checkpoint save is retried at the
// next flush and a load before the next batch, instead of holding the stage's serial chain.
// They are session parameters sent at connect, so they cost no round trip; behind PgBouncer in
// transaction pooling they must be set on the role instead (docs/operations.md).

import pg from 'pg';
import type { Logger } from '../core/logger.js';

export interface PgPoolSettings {
  url?: string;
  idleInTransactionTimeoutMs: number;
  /** 0: not set (the server's default). */
  lockTimeoutMs: number;
  /** 0: not set (the server's default). */
  statementTimeoutMs: number;
}

const POOL_SIZE = 10;

export function openPgPool(settings: PgPoolSettings, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: POOL_SIZE,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
    // node-postgres sends these only when non-zero, so 0 leaves the server's setting in force.
    lock_timeout: settings.lockTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
  });
  pool.on('error', (err) => logger.warn('idle PostgreSQL connection failed', { err }));
  return pool;
}

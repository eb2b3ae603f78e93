// SqlClient over a node-postgres Pool. A transaction pins one pooled connection for its duration.

import type pg from 'pg';
import { toStoreError, type SqlClient, type SqlQueryable, type SqlRow } from './sql-client.js';

export class PgSqlClient implements SqlClient {
  constructor(private readonly pool: pg.Pool) {}

  async query<T = SqlRow>(text: string, params: readonly unknown[] = []): Promise<{ rows: T[] }> {
    try {
      const result = await this.pool.query(text, params as unknown[]);
      return { rows: result.rows as T[] };
    } catch (err) {
      throw toStoreError(err, 'PostgreSQL query failed');
    }
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toStoreError(err, 'PostgreSQL connect failed');
    }
    const tx: SqlQueryable = {
      async query<R = SqlRow>(text: string, params: readonly unknown[] = []) {
        try {
          const result = await client.query(text, params as unknown[]);
          return { rows: result.rows as R[] };
        } catch (err) {
          throw toStoreError(err, 'PostgreSQL query failed');
        }
      },
    };
    // A connection whose ROLLBACK failed is in an unknown state: destroy it instead of pooling it.
    let broken: Error | undefined;
    // A checked-out client emits 'error' when its backend dies (pg_terminate_backend, a restart);
    // without a listener that is an uncaught exception. The failing query reports it to fn.
    const onClientError = (err: Error) => {
      broken ??= err;
    };
    client.on('error', onClientError);
    try {
      await tx.query('BEGIN');
      const result = await fn(tx);
      await tx.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      throw toStoreError(err, 'PostgreSQL transaction failed');
    } finally {
      client.off('error', onClientError);
      client.release(broken);
    }
  }
}

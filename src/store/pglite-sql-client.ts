// SqlClient over PGlite (embedded mode). PGlite is a single connection that serialises queries,
// so a transaction must only use the tx handle it is given, never the outer client.

import type { PGlite } from '@electric-sql/pglite';
import { toStoreError, type SqlClient, type SqlQueryable, type SqlRow } from './sql-client.js';

export class PgliteSqlClient implements SqlClient {
  constructor(private readonly db: PGlite) {}

  async query<T = SqlRow>(text: string, params: readonly unknown[] = []): Promise<{ rows: T[] }> {
    try {
      const result = await this.db.query<T>(text, params as unknown[]);
      return { rows: result.rows };
    } catch (err) {
      throw toStoreError(err, 'PGlite query failed');
    }
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(async (inner) =>
        fn({
          async query<R = SqlRow>(text: string, params: readonly unknown[] = []) {
            const result = await inner.query<R>(text, params as unknown[]);
            return { rows: result.rows };
          },
        }),
      );
    } catch (err) {
      throw toStoreError(err, 'PGlite transaction failed');
    }
  }
}

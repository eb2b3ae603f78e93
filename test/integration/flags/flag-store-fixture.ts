// Shared set-up for the flag store tests: a migrated, uniquely named schema on either driver,
// and sample commands. Not a test file itself (vitest only runs *.test.ts).

import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import type { Verdict } from '../../../src/events/verdict.js';
import { migrate } from '../../../src/store/migrations.js';
import { PgliteSqlClient } from '../../../src/store/pglite-sql-client.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import type { SqlClient } from '../../../src/store/sql-client.js';
import { testServices, uniqueName } from '../../helpers/services.js';

export interface StoreDriver {
  readonly name: string;
  /** A client on a fresh database handle, and how to release it. */
  open(): Promise<{ sql: SqlClient; close(): Promise<void> }>;
  /** Releases what open() calls share (run once after the suite). */
  dispose?(): Promise<void>;
}

export const pgDriver: StoreDriver = {
  name: 'PostgreSQL',
  async open() {
    const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 8 });
    return { sql: new PgSqlClient(pool), close: () => pool.end() };
  },
};

/** One in-memory PGlite per suite (it takes a second to boot); tests still get their own schema. */
export function pgliteDriver(): StoreDriver {
  let db: PGlite | undefined;
  return {
    name: 'PGlite',
    async open() {
      db ??= new PGlite();
      await db.waitReady;
      return { sql: new PgliteSqlClient(db), close: async () => {} };
    },
    async dispose() {
      await db?.close();
    },
  };
}

export interface MigratedStore {
  sql: SqlClient;
  schema: string;
  close(): Promise<void>;
}

export async function openMigratedStore(driver: StoreDriver): Promise<MigratedStore> {
  const { sql, close } = await driver.open();
  const schema = uniqueName('pmf_test_flags');
  await migrate(sql, schema);
  return {
    sql,
    schema,
    async close() {
      try {
        await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await close();
      }
    },
  };
}

export async function countRows(sql: SqlClient, schema: string, table: string): Promise<number> {
  const { rows } = await sql.query<{ n: unknown }>(`SELECT count(*) AS n FROM "${schema}".${table}`);
  return Number(rows[0].n);
}

export function sampleVerdict(feature: string, cohort: string): Verdict {
  const metric = { n: 5200, estimate: 0.098, lower: 0.071, upper: 0.129, threshold: 0.15, status: 'fail' as const };
  return {
    verdictId: uniqueName('verdict'),
    feature,
    cohort,
    outcome: 'fail',
    metrics: { activation: metric, retention: { ...metric, status: 'pass', estimate: 0.5 }, latencyP95: { ...metric, status: 'pending' } },
    srm: { status: 'ok', pValue: 0.41, counts: { control: 5100, [cohort]: 5200 } },
    ruleVersion: 'r1',
    evaluatedAt: '2026-01-02T03:04:05.000Z',
    inputOffsets: { '0': '120', '1': '98' },
    reason: 'fail: activation 9.8 % (always-valid 99 % upper bound 12.9 %) < threshold 15 %',
  };
}

export function rollback(feature: string, cohort: string, overrides: Partial<FlagCommand> = {}): FlagCommand {
  const evidence = sampleVerdict(feature, cohort);
  return {
    commandId: uniqueName('cmd'),
    feature,
    cohort,
    action: 'rollback',
    state: 'off',
    source: 'verdict',
    reason: evidence.reason,
    evidence,
    issuedAt: '2026-01-02T03:04:06.000Z',
    ...overrides,
  };
}

export function restore(feature: string, cohort: string, overrides: Partial<FlagCommand> = {}): FlagCommand {
  return {
    commandId: uniqueName('cmd'),
    feature,
    cohort,
    action: 'restore',
    state: 'on',
    source: 'manual',
    reason: 'fixed the slow query; restoring',
    issuedAt: '2026-01-02T05:00:00.000Z',
    actor: 'alice',
    ...overrides,
  };
}

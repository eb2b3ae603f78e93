// A flag-writer transaction whose PostgreSQL backend is terminated mid-transaction (test plan
// T17, pg_terminate_backend): the command fails with a retryable error and leaves no trace (no
// flag change, no outbox row, no idempotency row), and a retry applies it exactly once.

import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { migrate } from '../../../src/store/migrations.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';
import { countRows, restore, rollback } from './flag-store-fixture.js';

describe('a flag transaction terminated by PostgreSQL', () => {
  const appName = uniqueName('pmf_terminate');
  const schema = uniqueName('pmf_test_flags');
  let pool: pg.Pool;
  let admin: pg.Client;
  let sql: PgSqlClient;

  beforeEach(async () => {
    pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 2, application_name: appName });
    pool.on('error', () => {}); // the terminated connection reports here too; the query reports it to the caller
    sql = new PgSqlClient(pool);
    await migrate(sql, schema);
    admin = new pg.Client({ connectionString: testServices.databaseUrl });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    await pool.end();
  });

  it('rolls the whole command back and applies it once on retry', async () => {
    const repo = new FlagRepository(sql, schema);
    await repo.applyCommand(rollback('feat', 'a'));
    const before = {
      outbox: await countRows(sql, schema, 'outbox'),
      applied: await countRows(sql, schema, 'applied_commands'),
      flag: await repo.getFlag('feat'),
    };

    // Hold the feature's lock so the writer's transaction stops mid-way, after its first statements.
    const blocker = new pg.Client({ connectionString: testServices.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT version FROM "${schema}".feature_versions WHERE feature = 'feat' FOR UPDATE`);

    const cmd = restore('feat', 'a');
    const pending = repo.applyCommand(cmd).then(
      () => undefined,
      (err: unknown) => err,
    );
    const pid = await waitFor(
      async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [appName],
        );
        return rows[0]?.pid;
      },
      { message: 'writer transaction waiting on the feature lock' },
    );
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await pending;
    await blocker.query('ROLLBACK');
    await blocker.end();

    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    expect({
      outbox: await countRows(sql, schema, 'outbox'),
      applied: await countRows(sql, schema, 'applied_commands'),
      flag: await repo.getFlag('feat'),
    }).toEqual(before);

    await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'applied', version: 2 });
    await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'duplicate', version: 2 });
    // A flag version exists if and only if its outbox row does.
    const outbox = await repo.pendingOutbox(10);
    expect(outbox.map((o) => o.version)).toEqual([1, 2]);
    expect((await repo.getFlag('feat'))!.version).toBe(2);
  });
});

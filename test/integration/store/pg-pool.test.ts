// The product's PostgreSQL pool against a member frozen inside a checkpoint save (SIGSTOP, a
// stalled VM): its open transaction holds the checkpoint row, and without the idle-in-transaction
// timeout the member that took its partition over waited on that row for as long as it slept,
// logging nothing. With it, PostgreSQL ends the frozen session, the successor's save lands, and the
// frozen member's save fails retryably when it wakes, leaving the successor's checkpoint in place.
// And against a live session holding a checkpoint row (alive but stuck, which the idle timeout does
// not end): the pool's lock and statement timeouts turn the save's wait into a retryable error,
// while a migration still waits as long as a concurrent one needs.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { PmfError } from '../../../src/core/errors.js';
import { migrate } from '../../../src/store/migrations.js';
import { openPgPool } from '../../../src/store/pg-pool.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { SqlCheckpointStore } from '../../../src/store/sql-checkpoint-store.js';
import type { SqlClient, SqlQueryable } from '../../../src/store/sql-client.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';

const IDLE_TIMEOUT_MS = 1000;

/** A client whose transactions freeze after their first statement until woken, as a SIGSTOP'd process would. */
function freezingClient(sql: SqlClient) {
  let frozen!: () => void;
  let wake!: () => void;
  const holding = new Promise<void>((resolve) => (frozen = resolve));
  const woken = new Promise<void>((resolve) => (wake = resolve));
  const client: SqlClient = {
    query: (text, params) => sql.query(text, params),
    transaction: (fn) =>
      sql.transaction((tx) => {
        let statements = 0;
        const frozenTx: SqlQueryable = {
          async query(text, params) {
            if (statements++ === 1) {
              frozen();
              await woken;
            }
            return tx.query(text, params);
          },
        };
        return fn(frozenTx);
      }),
  };
  return { client, holding, wake };
}

describe('PostgreSQL pool with a member frozen inside a transaction', () => {
  const settings = { url: testServices.databaseUrl, idleInTransactionTimeoutMs: IDLE_TIMEOUT_MS, lockTimeoutMs: 0, statementTimeoutMs: 0 };
  const frozenPool = openPgPool(settings, silentLogger);
  const successorPool = openPgPool(settings, silentLogger);
  const schema = uniqueName('pmf_test_pool');
  const frozen = freezingClient(new PgSqlClient(frozenPool));

  beforeAll(async () => {
    await migrate(new PgSqlClient(successorPool), schema);
  });

  afterAll(async () => {
    frozen.wake(); // if the test failed, the member still holds the row the DROP needs
    await successorPool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await Promise.all([frozenPool.end(), successorPool.end()]);
  });

  it("frees the checkpoint row a frozen member's save holds, so its successor's save lands", async () => {
    const member = new SqlCheckpointStore(frozen.client, schema);
    const successor = new SqlCheckpointStore(new PgSqlClient(successorPool), schema);
    const part = (data: string) => ({ part: 0, seq: '1', data: Buffer.from(data) });
    expect(await successor.save('agg', 't', { partition: 0, offset: '5', state: Buffer.from('start') })).toBe(true);

    // The member's save has written the head row (BEGIN, then the head) and freezes holding its lock.
    const stale = member.save('agg', 't', { partition: 0, offset: '8', state: Buffer.from('member'), changes: { put: [part('member')], drop: [] } });
    const outcome = stale.then(() => 'saved', (err: unknown) => err);
    await frozen.holding;

    expect(await successor.save('agg', 't', { partition: 0, offset: '12', state: Buffer.from('successor'), changes: { put: [part('successor')], drop: [] } })).toBe(true);

    frozen.wake();
    const err = await outcome;
    expect(err).toBeInstanceOf(PmfError);
    expect((err as PmfError).retryable).toBe(true);
    const stored = await successor.load('agg', 't', 0);
    expect([stored?.offset, stored?.state.toString(), stored?.parts?.map((p) => p.data.toString())]).toEqual(['12', 'successor', ['successor']]);
  }, 30_000);
});

describe('PostgreSQL pool with a live session holding a checkpoint row', () => {
  const LOCK_TIMEOUT_MS = 200;
  const url = testServices.databaseUrl;
  // Idle timeouts far off: only the bound under test can end the wait.
  const lockBounded = openPgPool({ url, idleInTransactionTimeoutMs: 600_000, lockTimeoutMs: LOCK_TIMEOUT_MS, statementTimeoutMs: 0 }, silentLogger);
  const statementBounded = openPgPool({ url, idleInTransactionTimeoutMs: 600_000, lockTimeoutMs: 0, statementTimeoutMs: 300 }, silentLogger);
  const schema = uniqueName('pmf_test_lock_wait');
  // A session of another member, alive, that keeps its transaction open (no idle timeout of its own).
  const holder = new pg.Client({ connectionString: url });
  const cp = (offset: string, state: string) => ({ partition: 0, offset, state: Buffer.from(state) });

  beforeAll(async () => {
    await holder.connect();
    await migrate(new PgSqlClient(lockBounded), schema);
    expect(await new SqlCheckpointStore(new PgSqlClient(lockBounded), schema).save('agg', 't', cp('5', 'start'))).toBe(true);
  });

  afterAll(async () => {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
    await lockBounded.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await Promise.all([lockBounded.end(), statementBounded.end()]);
  });

  const holdCheckpointRow = async () => {
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".stream_checkpoints WHERE stage = 'agg' AND topic = 't' AND partition = 0 FOR UPDATE`);
  };

  it('fails a save behind the row lock retryably (lock timeout), and the retry lands once the lock is gone', async () => {
    const store = new SqlCheckpointStore(new PgSqlClient(lockBounded), schema);
    await holdCheckpointRow();
    const err = await store.save('agg', 't', cp('8', 'blocked')).then(() => 'saved', (e: unknown) => e);
    expect(err).toBeInstanceOf(PmfError);
    expect([(err as PmfError).code, (err as PmfError).retryable]).toEqual(['ERR_STORE_CONFLICT', true]);
    expect((err as PmfError).message).toMatch(/55P03/);
    await holder.query('ROLLBACK');
    expect(await store.save('agg', 't', cp('8', 'retried'))).toBe(true);
    expect((await store.load('agg', 't', 0))?.state.toString()).toBe('retried');
  }, 20_000);

  it('fails a save behind the row lock retryably when only the statement timeout is set', async () => {
    const store = new SqlCheckpointStore(new PgSqlClient(statementBounded), schema);
    await holdCheckpointRow();
    const err = await store.save('agg', 't', cp('9', 'blocked')).then(() => 'saved', (e: unknown) => e);
    await holder.query('ROLLBACK');
    expect(err).toBeInstanceOf(PmfError);
    expect([(err as PmfError).code, (err as PmfError).retryable]).toEqual(['ERR_STORE_UNAVAILABLE', true]);
    expect((err as PmfError).message).toMatch(/57014/);
    expect((await store.load('agg', 't', 0))?.offset).toBe('8');
  }, 20_000);

  it('lets a checkpoint load run past the statement timeout: a large restore must not fail alike at every retry', async () => {
    const store = new SqlCheckpointStore(new PgSqlClient(statementBounded), schema);
    // Something makes the restore's read slow (here a lock on the part rows' table, standing in for the
    // I/O of a restore at millions of pairs): it runs on, well past the pool's 300 ms statement timeout.
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE "${schema}".stream_checkpoint_parts IN ACCESS EXCLUSIVE MODE`);
    const loading = store.load('agg', 't', 0).then((cp) => cp, (e: unknown) => e);
    await waitFor(
      async () => {
        const { rows } = await lockBounded.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%stream_checkpoint_parts%'
             AND now() - state_change > interval '1200 ms'`,
        );
        return rows.length === 1;
      },
      { timeoutMs: 15_000, message: 'the load waiting past the statement timeout' },
    );
    await holder.query('ROLLBACK');
    expect(((await loading) as { offset?: string }).offset).toBe('8');
  }, 30_000);

  it('lets a migration wait past the lock timeout for a lock a concurrent session holds', async () => {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE "${schema}".schema_migrations IN ACCESS EXCLUSIVE MODE`);
    const migrating = migrate(new PgSqlClient(lockBounded), schema).then((r) => r, (e: unknown) => e);
    // The migration has waited on the lock for well past the pool's lock timeout (PostgreSQL's clock).
    await waitFor(
      async () => {
        const { rows } = await lockBounded.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%schema_migrations%'
             AND now() - state_change > make_interval(secs => $1::double precision / 1000)`,
          [4 * LOCK_TIMEOUT_MS],
        );
        return rows.length === 1;
      },
      { timeoutMs: 15_000, message: 'the migration waiting on the held lock' },
    );
    await holder.query('ROLLBACK');
    expect(await migrating).toEqual({ applied: [], current: expect.any(Number) });
  }, 30_000);
});

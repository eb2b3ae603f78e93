// The product's PostgreSQL pool against a member frozen inside a checkpoint save (SIGSTOP, a
// stalled VM): its open transaction holds the checkpoint row, and without the idle-in-transaction
// timeout the member that took its partition over waited on that row for as long as it slept,
// logging nothing. With it, PostgreSQL ends the frozen session, the successor's save lands, and the
// frozen member's save fails retryably when it wakes, leaving the successor's checkpoint in place.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { PmfError } from '../../../src/core/errors.js';
import { migrate } from '../../../src/store/migrations.js';
import { openPgPool } from '../../../src/store/pg-pool.js';
import { PgSqlClient } from '../../../src/store/pg-sql-client.js';
import { SqlCheckpointStore } from '../../../src/store/sql-checkpoint-store.js';
import type { SqlClient, SqlQueryable } from '../../../src/store/sql-client.js';
import { testServices, uniqueName } from '../../helpers/services.js';

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
  const settings = { url: testServices.databaseUrl, idleInTransactionTimeoutMs: IDLE_TIMEOUT_MS };
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

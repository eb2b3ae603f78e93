// Checkpoints in PostgreSQL (or PGlite in embedded mode): one row per (stage, topic, partition)
// with the offset and the state (or the head of an incremental state), plus the part rows of an
// incremental state in stream_checkpoint_parts, written in the same transaction. The head row is
// written first: its offset guard decides, and its row lock orders concurrent owners, so a refused
// save rolls back before it touches a part. Part rows are each far below PostgreSQL's 1 GB bytea
// limit whatever the state size (the stage bounds a row, see docs/aggregation.md).

import { quoteIdent, toStoreError, type SqlClient, type SqlQueryable } from './sql-client.js';
import type { StatePart } from '../core/state-parts.js';
import type { Checkpoint, CheckpointSave, CheckpointStore } from '../stream/checkpoint-store.js';

/** Part rows per INSERT statement: keeps one statement's parameters bounded. */
const PUT_BATCH = 64;
/**
 * A statement takes more rows only while its data stays under this many bytes. node-postgres
 * copies every parameter into one message buffer that grows by half its size at a time, so a
 * statement of several MB-sized rows allocated and copied about three times its bytes; a big
 * row alone in its statement is copied once (a round trip per MB is cheap beside that).
 */
const PUT_BATCH_BYTES = 256 * 1024;

export class SqlCheckpointStore implements CheckpointStore {
  private readonly table: string;
  private readonly parts: string;

  constructor(private readonly sql: SqlClient, schema: string) {
    this.table = `${quoteIdent(schema)}.stream_checkpoints`;
    this.parts = `${quoteIdent(schema)}.stream_checkpoint_parts`;
  }

  async load(stage: string, topic: string, partition: number): Promise<Checkpoint | null> {
    try {
      // One transaction, so the head and the parts are one snapshot even beside a concurrent save.
      return await this.sql.transaction(async (tx) => {
        await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        // Not cut short by the pool's statement timeout: a restore reads every part row in one
        // statement (seconds at 10 M pairs), and cut short it would fail alike at every retry.
        // It waits on no row lock (MVCC); a table lock stays bounded by the lock timeout.
        await tx.query("SELECT set_config('statement_timeout', '0', true)");
        const { rows } = await tx.query<{ next_offset: string; state: Uint8Array }>(
          `SELECT next_offset::text AS next_offset, state FROM ${this.table} WHERE stage = $1 AND topic = $2 AND partition = $3`,
          [stage, topic, partition],
        );
        if (rows.length === 0) return null;
        // Ordered by the bigint column: an output alias named seq would sort the text, and '10' < '9'.
        const parts = await tx.query<{ part: number; seq_text: string; data: Uint8Array }>(
          `SELECT part, seq::text AS seq_text, data FROM ${this.parts} WHERE stage = $1 AND topic = $2 AND partition = $3 ORDER BY part, seq`,
          [stage, topic, partition],
        );
        const list: StatePart[] = parts.rows.map((r) => ({ part: Number(r.part), seq: r.seq_text, data: Buffer.from(r.data) }));
        return { partition, offset: rows[0].next_offset, state: Buffer.from(rows[0].state), parts: list };
      });
    } catch (err) {
      throw toStoreError(err, `loading checkpoint ${stage}/${topic}/${partition}`);
    }
  }

  async loadOffset(stage: string, topic: string, partition: number): Promise<string | null> {
    try {
      const { rows } = await this.sql.query<{ next_offset: string }>(
        `SELECT next_offset::text AS next_offset FROM ${this.table} WHERE stage = $1 AND topic = $2 AND partition = $3`,
        [stage, topic, partition],
      );
      return rows.length === 0 ? null : rows[0].next_offset;
    } catch (err) {
      throw toStoreError(err, `loading checkpoint offset ${stage}/${topic}/${partition}`);
    }
  }

  async save(stage: string, topic: string, cp: CheckpointSave): Promise<boolean> {
    try {
      return await this.sql.transaction(async (tx) => {
        // The WHERE keeps a fenced-out owner from moving the checkpoint backwards or re-applying
        // changes at an offset already saved; RETURNING tells whether the row was written.
        const { rows } = await tx.query(
          `INSERT INTO ${this.table} (stage, topic, partition, next_offset, state, updated_at)
           VALUES ($1, $2, $3, $4::bigint, $5, now())
           ON CONFLICT (stage, topic, partition) DO UPDATE
             SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, updated_at = now()
             WHERE ${this.table}.next_offset < EXCLUDED.next_offset
           RETURNING 1`,
          [stage, topic, cp.partition, cp.offset, cp.state],
        );
        if (rows.length !== 1) return false;
        if (cp.changes) await this.applyChanges(tx, stage, topic, cp);
        return true;
      });
    } catch (err) {
      throw toStoreError(err, `saving checkpoint ${stage}/${topic}/${cp.partition}`);
    }
  }

  private async applyChanges(tx: SqlQueryable, stage: string, topic: string, cp: CheckpointSave): Promise<void> {
    const { put, drop } = cp.changes!;
    for (const d of drop) {
      if (d.below === undefined) {
        await tx.query(`DELETE FROM ${this.parts} WHERE stage = $1 AND topic = $2 AND partition = $3 AND part = $4`, [stage, topic, cp.partition, d.part]);
      } else {
        await tx.query(
          `DELETE FROM ${this.parts} WHERE stage = $1 AND topic = $2 AND partition = $3 AND part = $4 AND seq < $5::bigint`,
          [stage, topic, cp.partition, d.part, d.below],
        );
      }
    }
    for (let i = 0; i < put.length; ) {
      let j = i + 1;
      for (let bytes = put[i].data.length; j < put.length && j - i < PUT_BATCH && bytes + put[j].data.length <= PUT_BATCH_BYTES; j++) bytes += put[j].data.length;
      const batch = put.slice(i, j);
      i = j;
      const params: unknown[] = [stage, topic, cp.partition];
      const values = batch.map((p) => {
        params.push(p.part, p.seq, p.data);
        const n = params.length;
        return `($1, $2, $3, $${n - 2}, $${n - 1}::bigint, $${n})`;
      });
      await tx.query(
        `INSERT INTO ${this.parts} (stage, topic, partition, part, seq, data) VALUES ${values.join(', ')}
         ON CONFLICT (stage, topic, partition, part, seq) DO UPDATE SET data = EXCLUDED.data`,
        params,
      );
    }
  }
}

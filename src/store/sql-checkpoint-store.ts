// Checkpoints in PostgreSQL (or PGlite in embedded mode): one row per (stage, topic, partition)
// written by one statement, so state and offset can never disagree.

import { quoteIdent, toStoreError, type SqlClient } from './sql-client.js';
import type { Checkpoint, CheckpointStore } from '../stream/checkpoint-store.js';

export class SqlCheckpointStore implements CheckpointStore {
  private readonly table: string;

  constructor(private readonly sql: SqlClient, schema: string) {
    this.table = `${quoteIdent(schema)}.stream_checkpoints`;
  }

  async load(stage: string, topic: string, partition: number): Promise<Checkpoint | null> {
    try {
      const { rows } = await this.sql.query<{ next_offset: string; state: Uint8Array }>(
        `SELECT next_offset::text AS next_offset, state FROM ${this.table} WHERE stage = $1 AND topic = $2 AND partition = $3`,
        [stage, topic, partition],
      );
      if (rows.length === 0) return null;
      return { partition, offset: rows[0].next_offset, state: Buffer.from(rows[0].state) };
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

  async save(stage: string, topic: string, cp: Checkpoint): Promise<boolean> {
    try {
      // The WHERE keeps a slow, fenced-out owner from moving the checkpoint backwards; RETURNING
      // tells whether the row was written.
      const { rows } = await this.sql.query(
        `INSERT INTO ${this.table} (stage, topic, partition, next_offset, state, updated_at)
         VALUES ($1, $2, $3, $4::bigint, $5, now())
         ON CONFLICT (stage, topic, partition) DO UPDATE
           SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, updated_at = now()
           WHERE ${this.table}.next_offset <= EXCLUDED.next_offset
         RETURNING 1`,
        [stage, topic, cp.partition, cp.offset, cp.state],
      );
      return rows.length === 1;
    } catch (err) {
      throw toStoreError(err, `saving checkpoint ${stage}/${topic}/${cp.partition}`);
    }
  }
}

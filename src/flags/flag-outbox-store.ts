// The outbox store: the snapshot row written in a feature's write transaction, and the relay's
// reads of unpublished rows and its marking of published ones.

import type { SqlClient, SqlQueryable } from '../store/sql-client.js';
import type { FeatureSnapshot, OutboxEntry } from './flag-repository-types.js';

export class FlagOutboxStore {
  /** `outbox` is the schema-qualified, quoted outbox table. */
  constructor(private readonly sql: SqlClient, private readonly outbox: string) {}

  /** Unpublished outbox rows, oldest first, leaving out the features in `except` (quarantined by the relay). */
  async pendingOutbox(limit = 100, except: readonly string[] = []): Promise<OutboxEntry[]> {
    const { rows } = await this.sql.query<{ id: unknown; feature: string; version: unknown; payload: FeatureSnapshot }>(
      `SELECT id, feature, version, payload FROM ${this.outbox}
        WHERE published_at IS NULL AND feature NOT IN (SELECT jsonb_array_elements_text($2::jsonb))
        ORDER BY id LIMIT $1`,
      [limit, JSON.stringify(except)],
    );
    return rows.map((r) => ({ id: Number(r.id), feature: r.feature, version: Number(r.version), payload: r.payload }));
  }

  /** Marks outbox rows as published; returns how many were still pending. */
  async markPublished(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const { rows } = await this.sql.query<{ id: unknown }>(
      `UPDATE ${this.outbox} SET published_at = now()
        WHERE published_at IS NULL AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)
        RETURNING id`,
      [JSON.stringify(ids)],
    );
    return rows.length;
  }
}

/** The feature's full snapshot (a FeatureSnapshot) as this transaction leaves it, built in one statement. */
export async function writeOutbox(tx: SqlQueryable, tables: { outbox: string; flags: string }, feature: string, version: number): Promise<void> {
  await tx.query(
    `INSERT INTO ${tables.outbox} (feature, version, payload)
     SELECT $1, $2::bigint, jsonb_build_object('feature', $1::text, 'version', $2::bigint, 'cohorts', jsonb_object_agg(cohort, state))
            -- allocations only when a cohort is in a rollout, so snapshots without rollouts keep their shape
            || CASE WHEN count(*) FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL) = 0 THEN '{}'::jsonb
               ELSE jsonb_build_object('allocations', jsonb_object_agg(cohort, jsonb_build_object('percent', allocation, 'salt', rollout->>'salt', 'control', rollout->>'control'))
                                                      FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL)) END
       FROM ${tables.flags} WHERE feature = $1`,
    [feature, version],
  );
}

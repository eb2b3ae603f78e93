// The flag store's schema as ordered migrations. They are TS constants so they ship with the tsc
// output, and plain SQL without extensions so the same statements run on PostgreSQL and PGlite.
// Each migration is a list of single statements because PGlite's query() runs one at a time.
// A migration, once released, never changes: add a new one instead.

import { PmfError } from '../core/errors.js';
import { APPLY_COMMAND_MIGRATION } from './migrations-apply-command.js';
import { quoteIdent, toStoreError, type SqlClient } from './sql-client.js';

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'flag store',
    statements: [
      `CREATE TABLE flags (
        feature      text        NOT NULL,
        cohort       text        NOT NULL,
        state        text        NOT NULL CHECK (state IN ('on', 'off')),
        version      bigint      NOT NULL CHECK (version > 0),
        reason       text        NOT NULL DEFAULT '',
        updated_at   timestamptz NOT NULL DEFAULT now(),
        pinned_state text        NULL CHECK (pinned_state IN ('on', 'off')),
        pinned_until timestamptz NULL,
        pinned_by    text        NULL,
        PRIMARY KEY (feature, cohort)
      )`,
      // One row per feature: its monotonic version, and the row every writer of the feature locks.
      `CREATE TABLE feature_versions (
        feature text   PRIMARY KEY,
        version bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
      )`,
      `CREATE TABLE audit_log (
        id          bigserial   PRIMARY KEY,
        command_id  text        NULL,
        feature     text        NOT NULL,
        cohort      text        NOT NULL,
        from_state  text        NULL CHECK (from_state IN ('on', 'off')),
        to_state    text        NOT NULL CHECK (to_state IN ('on', 'off')),
        version     bigint      NOT NULL,
        source      text        NOT NULL,
        actor       text        NULL,
        reason      text        NOT NULL,
        evidence    jsonb       NULL,
        outcome     text        NOT NULL CHECK (outcome IN ('applied', 'skipped_pinned', 'no_change')),
        created_at  timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX audit_log_feature_idx ON audit_log (feature, id)`,
      `CREATE TABLE applied_commands (
        command_id text        PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now(),
        result     jsonb       NOT NULL
      )`,
      `CREATE TABLE outbox (
        id           bigserial   PRIMARY KEY,
        feature      text        NOT NULL,
        version      bigint      NOT NULL,
        payload      jsonb       NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz NULL
      )`,
      `CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL`,
    ],
  },
  {
    version: 2,
    name: 'stream checkpoints',
    statements: [
      // One row per (stage, input topic, partition): state and the next offset it reflects, written
      // by one statement (see stream/sql-checkpoint-store.ts).
      `CREATE TABLE stream_checkpoints (
        stage       text        NOT NULL,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        next_offset bigint      NOT NULL,
        state       bytea       NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stage, topic, partition)
      )`,
    ],
  },
  {
    version: 3,
    name: 'pins, held commands and audit actions',
    statements: [
      `ALTER TABLE flags ADD COLUMN pin_reason text NULL`,
      // The newest automatic command a pin held back; it takes effect when the pin ends, because an
      // automatic command id is never issued twice and would otherwise be lost (docs/flag-admin.md).
      `ALTER TABLE flags ADD COLUMN held_command jsonb NULL`,
      // What a person or the system did: rollback, restore, pin, unpin, pin_expired, register.
      `ALTER TABLE audit_log ADD COLUMN action text NULL`,
      `CREATE INDEX flags_pinned_until_idx ON flags (pinned_until) WHERE pinned_state IS NOT NULL`,
    ],
  },
  {
    version: 4,
    name: 'indexes for table retention',
    statements: [
      // The retention job (store/table-retention.ts) deletes the oldest rows in batches by these.
      `CREATE INDEX audit_log_created_at_idx ON audit_log (created_at)`,
      `CREATE INDEX applied_commands_applied_at_idx ON applied_commands (applied_at)`,
      `CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL`,
    ],
  },
  {
    version: 5,
    name: 'rollout allocation',
    statements: [
      // Percent of the cohort's users served the cohort; null = never in a rollout (serves everyone).
      `ALTER TABLE flags ADD COLUMN allocation numeric(5, 2) NULL CHECK (allocation >= 0 AND allocation <= 100)`,
      // The ramp next to it: {stage, stages, status, salt, control} (docs/rollouts.md).
      `ALTER TABLE flags ADD COLUMN rollout jsonb NULL`,
      `ALTER TABLE audit_log ADD COLUMN from_allocation numeric(5, 2) NULL`,
      `ALTER TABLE audit_log ADD COLUMN to_allocation numeric(5, 2) NULL`,
    ],
  },
  {
    version: 6,
    name: 'plain command in one round trip',
    statements: [
      // A rollback or restore of a cohort that no pin touches, applied in one call (flag-commands.ts):
      // lock the feature, check applied_commands, write the flag, audit entry, result and outbox
      // row. PL/pgSQL because each statement in it takes a fresh snapshot, so the checks after the
      // lock see what a concurrent writer of the feature committed (one SQL statement with CTEs
      // would read from before the lock). A pinned cohort answers 'slow': the caller takes the
      // general path, which ends or honours the pin. search_path is fixed at creation (the
      // migration's schema), so callers need not set it.
      `CREATE FUNCTION apply_plain_command(p_command_id text, p_feature text, p_cohort text, p_state text, p_action text,
                                          p_source text, p_actor text, p_reason text, p_evidence jsonb)
       RETURNS jsonb LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
       DECLARE
         v_before bigint;
         v_version bigint;
         v_prior jsonb;
         v_row flags%ROWTYPE;
         v_found boolean;
         v_outcome text;
         v_result jsonb;
         v_outbox_id bigint;
         v_payload jsonb;
       BEGIN
         INSERT INTO feature_versions AS v (feature, version) VALUES (p_feature, 0)
           ON CONFLICT (feature) DO UPDATE SET version = v.version
           RETURNING version INTO v_before;
         SELECT result INTO v_prior FROM applied_commands WHERE command_id = p_command_id;
         IF FOUND THEN
           RETURN jsonb_build_object('status', 'duplicate', 'version', (v_prior->>'version')::bigint);
         END IF;
         SELECT * INTO v_row FROM flags WHERE feature = p_feature AND cohort = p_cohort;
         v_found := FOUND;
         IF v_found AND (v_row.pinned_state IS NOT NULL OR v_row.held_command IS NOT NULL) THEN
           RETURN jsonb_build_object('status', 'slow');
         END IF;
         IF v_found AND v_row.state = p_state THEN
           v_outcome := 'no_change';
           v_version := v_before;
         ELSE
           v_outcome := 'applied';
           v_version := v_before + 1;
           INSERT INTO flags (feature, cohort, state, version, reason, updated_at)
             VALUES (p_feature, p_cohort, p_state, v_version, p_reason, now())
             ON CONFLICT (feature, cohort) DO UPDATE
               SET state = excluded.state, version = excluded.version, reason = excluded.reason,
                   updated_at = excluded.updated_at, held_command = NULL;
           UPDATE feature_versions SET version = v_version WHERE feature = p_feature;
         END IF;
         INSERT INTO audit_log (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation)
           VALUES (p_command_id, p_feature, p_cohort, p_action, CASE WHEN v_found THEN v_row.state END, p_state, v_version, p_source, p_actor, p_reason, p_evidence,
                   v_outcome, CASE WHEN v_found THEN v_row.allocation END, CASE WHEN v_found THEN v_row.allocation END);
         v_result := jsonb_build_object('status', v_outcome, 'version', v_version);
         INSERT INTO applied_commands (command_id, result) VALUES (p_command_id, v_result);
         IF v_outcome = 'applied' THEN
           -- The same snapshot as flag-outbox-store.ts writeOutbox builds.
           INSERT INTO outbox (feature, version, payload)
             SELECT p_feature, v_version, jsonb_build_object('feature', p_feature, 'version', v_version, 'cohorts', jsonb_object_agg(cohort, state))
                    || CASE WHEN count(*) FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL) = 0 THEN '{}'::jsonb
                       ELSE jsonb_build_object('allocations', jsonb_object_agg(cohort, jsonb_build_object('percent', allocation, 'salt', rollout->>'salt', 'control', rollout->>'control'))
                                                              FILTER (WHERE allocation IS NOT NULL AND rollout IS NOT NULL)) END
               FROM flags WHERE feature = p_feature
             RETURNING id, payload INTO v_outbox_id, v_payload;
           RETURN v_result || jsonb_build_object('outbox_id', v_outbox_id, 'payload', v_payload);
         END IF;
         RETURN v_result;
       END
       $fn$`,
    ],
  },
  {
    version: 7,
    name: 'incremental checkpoint parts',
    statements: [
      // The part rows of an incremental checkpoint (stream/checkpoint-store.ts): written in the
      // transaction that moves the stream_checkpoints row, keyed by a stage-defined part number
      // and a sequence that orders a part's rows (docs/aggregation.md, "Checkpoints").
      `CREATE TABLE stream_checkpoint_parts (
        stage     text    NOT NULL,
        topic     text    NOT NULL,
        partition integer NOT NULL,
        part      integer NOT NULL,
        seq       bigint  NOT NULL,
        data      bytea   NOT NULL,
        PRIMARY KEY (stage, topic, partition, part, seq)
      )`,
    ],
  },
  // Every flag command in one call; apply_plain_command of migration 6 stays for writers of the
  // previous release that may still run during an upgrade.
  APPLY_COMMAND_MIGRATION,
  {
    version: 9,
    name: 'checkpoint parts stored uncompressed',
    statements: [
      // A part row is binary state (typed arrays, fingerprints) that pglz shrinks by about 9 %,
      // at 2.5× the insert time, on the server's CPU at every checkpoint (measured on 17 MB of the
      // aggregator's rows: 350–490 ms to insert with compression, 145–180 ms without). EXTERNAL
      // keeps TOAST's out-of-line storage and skips the compression; rows already stored stay as
      // they are and read the same.
      `ALTER TABLE stream_checkpoint_parts ALTER COLUMN data SET STORAGE EXTERNAL`,
    ],
  },
];

// First key of the two-int advisory lock: "pmf" in ASCII, so our locks do not collide with another
// application's single-key locks in the same database.
const LOCK_NAMESPACE = 0x706d66;

export interface MigrateResult {
  /** Versions applied by this call, in order (empty when the schema was already current). */
  applied: number[];
  /** Highest version present after the call. */
  current: number;
}

/**
 * Brings `schema` (created if missing) up to the latest migration. Safe to run from several
 * processes at once: a transaction-scoped advisory lock per schema serialises them, and the
 * whole run is one transaction, so a failed migration leaves nothing half-applied.
 */
export async function migrate(sql: SqlClient, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const s = quoteIdent(schema);
  assertOrdered(migrations);
  return sql.transaction(async (tx) => {
    // Unbounded for this transaction only: a process starting beside another one's migration waits
    // for its advisory lock, and a migration may rewrite a large table; the pool's lock and
    // statement timeouts (pg-pool.ts) are for the short statements of a running stage.
    await tx.query("SELECT set_config('lock_timeout', '0', true), set_config('statement_timeout', '0', true)");
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    // SET LOCAL ends with the transaction, so a pooled connection does not keep this search_path.
    await tx.query(`SET LOCAL search_path TO ${s}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements) {
        try {
          await tx.query(statement);
        } catch (err) {
          const cause = toStoreError(err, 'statement failed');
          throw new PmfError(cause.code, `migration ${m.version} (${m.name}) failed in schema ${schema}: ${cause.message}`, {
            retryable: cause.retryable,
            cause: err,
          });
        }
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
      done.add(m.version);
    }
    return { applied, current: Math.max(0, ...done) };
  });
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new PmfError('ERR_INTERNAL', `migrations must be numbered 1..n in order; found ${m.version} at position ${i + 1}`);
    }
  });
}

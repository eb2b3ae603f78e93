// PostgreSQL is the truth for flag state. Every write to a feature locks that feature's row in
// feature_versions first, so writers of one feature are serialised and its version only grows;
// the outbox row written in the same transaction is what later reaches Redis.

import { PmfError } from '../core/errors.js';
import type { FlagCommand, FlagState } from '../events/flag-command.js';
import { quoteIdent, type SqlClient, type SqlQueryable } from './sql-client.js';

export type ApplyStatus = 'applied' | 'duplicate' | 'no_change' | 'skipped_pinned';
export type AuditOutcome = 'applied' | 'skipped_pinned' | 'no_change';

export interface ApplyResult {
  status: ApplyStatus;
  /** The feature's version after the command (for a duplicate: as recorded when first applied). */
  version: number;
}

/** What Redis holds for one feature, and what each outbox row carries. */
export interface FeatureSnapshot {
  feature: string;
  version: number;
  cohorts: Record<string, FlagState>;
}

/** One cohort in the admin API's GET /v1/flags/{feature} (DESIGN section 9). */
export interface CohortFlag {
  state: FlagState;
  version: number;
  reason: string;
  updatedAt: string;
  /** Present only while a pin is in force. */
  pinnedUntil?: string;
}

export interface FeatureFlags {
  feature: string;
  version: number;
  cohorts: Record<string, CohortFlag>;
}

export interface AuditEntry {
  id: number;
  commandId: string | null;
  feature: string;
  cohort: string;
  fromState: FlagState | null;
  toState: FlagState;
  version: number;
  source: string;
  actor: string | null;
  reason: string;
  evidence: unknown;
  outcome: AuditOutcome;
  createdAt: string;
}

export interface OutboxEntry {
  id: number;
  feature: string;
  version: number;
  payload: FeatureSnapshot;
}

export interface EnsureGuardedResult {
  /** Cohorts that got a new row (state on); empty when all existed already. */
  inserted: string[];
  version: number;
}

interface Tables {
  flags: string;
  versions: string;
  audit: string;
  applied: string;
  outbox: string;
}

interface CohortRow {
  state: FlagState;
  pinned_state: FlagState | null;
  pinned_until: unknown;
  pinned_by: string | null;
  pin_active: boolean;
}

export class FlagRepository {
  private readonly t: Tables;

  /** `schema` must already be migrated (see migrations.ts). */
  constructor(private readonly sql: SqlClient, schema: string) {
    const s = quoteIdent(schema);
    this.t = {
      flags: `${s}.flags`,
      versions: `${s}.feature_versions`,
      audit: `${s}.audit_log`,
      applied: `${s}.applied_commands`,
      outbox: `${s}.outbox`,
    };
  }

  /** Applies a command exactly once, in one transaction (see DESIGN section 5). */
  async applyCommand(cmd: FlagCommand): Promise<ApplyResult> {
    assertCommand(cmd);
    const t = this.t;
    return this.sql.transaction(async (tx) => {
      const current = await this.lockFeature(tx, cmd.feature);

      // Checked after the lock: a concurrent delivery of the same command has committed by now.
      const seen = await tx.query<{ result: { version: number } }>(`SELECT result FROM ${t.applied} WHERE command_id = $1`, [cmd.commandId]);
      if (seen.rows.length > 0) return { status: 'duplicate', version: Number(seen.rows[0].result.version) };

      const { rows } = await tx.query<CohortRow>(
        `SELECT state, pinned_state, pinned_until, pinned_by,
                (pinned_state IS NOT NULL AND pinned_until IS NOT NULL AND pinned_until > now()) AS pin_active
           FROM ${t.flags} WHERE feature = $1 AND cohort = $2`,
        [cmd.feature, cmd.cohort],
      );
      const row = rows[0];
      const fromState = row?.state ?? null;

      let outcome: AuditOutcome;
      let version = current;
      let reason = cmd.reason;
      if (row?.pin_active && row.pinned_state !== cmd.state) {
        outcome = 'skipped_pinned';
        const by = row.pinned_by ? ` by ${row.pinned_by}` : '';
        reason = `not applied: cohort pinned ${row.pinned_state} until ${isoTime(row.pinned_until)}${by}; command reason: ${cmd.reason}`;
      } else if (fromState === cmd.state) {
        outcome = 'no_change';
      } else {
        outcome = 'applied';
        version = current + 1;
        await tx.query(`UPDATE ${t.versions} SET version = $2 WHERE feature = $1`, [cmd.feature, version]);
        await tx.query(
          `INSERT INTO ${t.flags} (feature, cohort, state, version, reason, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (feature, cohort) DO UPDATE
             SET state = excluded.state, version = excluded.version, reason = excluded.reason, updated_at = excluded.updated_at`,
          [cmd.feature, cmd.cohort, cmd.state, version, cmd.reason],
        );
        await this.writeOutbox(tx, cmd.feature, version);
      }

      await tx.query(
        `INSERT INTO ${t.audit} (command_id, feature, cohort, from_state, to_state, version, source, actor, reason, evidence, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)`,
        [
          cmd.commandId,
          cmd.feature,
          cmd.cohort,
          fromState,
          cmd.state,
          version,
          cmd.source,
          cmd.actor ?? null,
          reason,
          cmd.evidence === undefined ? null : JSON.stringify(cmd.evidence),
          outcome,
        ],
      );
      const result: ApplyResult = { status: outcome, version };
      await tx.query(`INSERT INTO ${t.applied} (command_id, result) VALUES ($1, $2::jsonb)`, [cmd.commandId, JSON.stringify(result)]);
      return result;
    });
  }

  /**
   * Gives every guarded cohort of a rule a flag row in state `on` if it has none. The version
   * moves (and an outbox row is written) only when a row was inserted, so reloading rules is free.
   */
  async ensureGuarded(feature: string, cohorts: readonly string[], reason = 'guarded cohort registered by rules'): Promise<EnsureGuardedResult> {
    assertName('feature', feature);
    for (const c of cohorts) assertCohort(c);
    const t = this.t;
    if (cohorts.length === 0) {
      const { rows } = await this.sql.query<{ version: unknown }>(`SELECT version FROM ${t.versions} WHERE feature = $1`, [feature]);
      return { inserted: [], version: rows.length > 0 ? Number(rows[0].version) : 0 };
    }
    return this.sql.transaction(async (tx) => {
      const current = await this.lockFeature(tx, feature);
      const version = current + 1;
      const { rows } = await tx.query<{ cohort: string }>(
        `INSERT INTO ${t.flags} (feature, cohort, state, version, reason, updated_at)
         SELECT $1, c, 'on', $2, $3, now() FROM jsonb_array_elements_text($4::jsonb) AS c
         ON CONFLICT (feature, cohort) DO NOTHING
         RETURNING cohort`,
        [feature, version, reason, JSON.stringify([...new Set(cohorts)])],
      );
      if (rows.length === 0) return { inserted: [], version: current };
      const inserted = rows.map((r) => r.cohort).sort();
      await tx.query(`UPDATE ${t.versions} SET version = $2 WHERE feature = $1`, [feature, version]);
      for (const cohort of inserted) {
        await tx.query(
          `INSERT INTO ${t.audit} (command_id, feature, cohort, from_state, to_state, version, source, actor, reason, evidence, outcome)
           VALUES (NULL, $1, $2, NULL, 'on', $3, 'rules', NULL, $4, NULL, 'applied')`,
          [feature, cohort, version, reason],
        );
      }
      await this.writeOutbox(tx, feature, version);
      return { inserted, version };
    });
  }

  /** The admin API's view of a feature, or null if it has no flag rows. */
  async getFlag(feature: string): Promise<FeatureFlags | null> {
    const { rows } = await this.sql.query<{
      feature_version: unknown;
      cohort: string;
      state: FlagState;
      version: unknown;
      reason: string;
      updated_at: unknown;
      pinned_until: unknown;
    }>(
      `SELECT v.version AS feature_version, f.cohort, f.state, f.version, f.reason, f.updated_at,
              CASE WHEN f.pinned_state IS NOT NULL AND f.pinned_until > now() THEN f.pinned_until END AS pinned_until
         FROM ${this.t.versions} v JOIN ${this.t.flags} f ON f.feature = v.feature
        WHERE v.feature = $1
        ORDER BY f.cohort`,
      [feature],
    );
    if (rows.length === 0) return null;
    const cohorts = Object.fromEntries(
      rows.map((r): [string, CohortFlag] => {
        const flag: CohortFlag = { state: r.state, version: Number(r.version), reason: r.reason, updatedAt: isoTime(r.updated_at) };
        if (r.pinned_until !== null && r.pinned_until !== undefined) flag.pinnedUntil = isoTime(r.pinned_until);
        return [r.cohort, flag];
      }),
    );
    return { feature, version: Number(rows[0].feature_version), cohorts };
  }

  /** The newest `limit` audit entries of a feature, newest first. */
  async auditLog(feature: string, limit = 100): Promise<AuditEntry[]> {
    const { rows } = await this.sql.query<Record<string, unknown>>(
      `SELECT id, command_id, feature, cohort, from_state, to_state, version, source, actor, reason, evidence, outcome, created_at
         FROM ${this.t.audit} WHERE feature = $1 ORDER BY id DESC LIMIT $2`,
      [feature, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      commandId: (r.command_id as string | null) ?? null,
      feature: r.feature as string,
      cohort: r.cohort as string,
      fromState: (r.from_state as FlagState | null) ?? null,
      toState: r.to_state as FlagState,
      version: Number(r.version),
      source: r.source as string,
      actor: (r.actor as string | null) ?? null,
      reason: r.reason as string,
      evidence: r.evidence ?? null,
      outcome: r.outcome as AuditOutcome,
      createdAt: isoTime(r.created_at),
    }));
  }

  /** Unpublished outbox rows, oldest first. */
  async pendingOutbox(limit = 100): Promise<OutboxEntry[]> {
    const { rows } = await this.sql.query<{ id: unknown; feature: string; version: unknown; payload: FeatureSnapshot }>(
      `SELECT id, feature, version, payload FROM ${this.t.outbox} WHERE published_at IS NULL ORDER BY id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ id: Number(r.id), feature: r.feature, version: Number(r.version), payload: r.payload }));
  }

  /** Marks outbox rows as published; returns how many were still pending. */
  async markPublished(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const { rows } = await this.sql.query<{ id: unknown }>(
      `UPDATE ${this.t.outbox} SET published_at = now()
        WHERE published_at IS NULL AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)
        RETURNING id`,
      [JSON.stringify(ids)],
    );
    return rows.length;
  }

  /** Every feature's current state, for reconciling Redis at start-up. */
  async allFeatureSnapshots(): Promise<FeatureSnapshot[]> {
    const { rows } = await this.sql.query<{ feature: string; version: unknown; cohort: string; state: FlagState }>(
      `SELECT v.feature, v.version, f.cohort, f.state
         FROM ${this.t.versions} v JOIN ${this.t.flags} f ON f.feature = v.feature
        ORDER BY v.feature, f.cohort`,
    );
    const snapshots: FeatureSnapshot[] = [];
    let entries: [string, FlagState][] = [];
    rows.forEach((r, i) => {
      entries.push([r.cohort, r.state]);
      if (rows[i + 1]?.feature !== r.feature) {
        snapshots.push({ feature: r.feature, version: Number(r.version), cohorts: Object.fromEntries(entries) });
        entries = [];
      }
    });
    return snapshots;
  }

  /** Creates the feature's version row if missing and locks it for the rest of the transaction. */
  private async lockFeature(tx: SqlQueryable, feature: string): Promise<number> {
    await tx.query(`INSERT INTO ${this.t.versions} (feature, version) VALUES ($1, 0) ON CONFLICT (feature) DO NOTHING`, [feature]);
    const { rows } = await tx.query<{ version: unknown }>(`SELECT version FROM ${this.t.versions} WHERE feature = $1 FOR UPDATE`, [feature]);
    return Number(rows[0].version);
  }

  private async writeOutbox(tx: SqlQueryable, feature: string, version: number): Promise<void> {
    const { rows } = await tx.query<{ cohort: string; state: FlagState }>(
      `SELECT cohort, state FROM ${this.t.flags} WHERE feature = $1 ORDER BY cohort`,
      [feature],
    );
    const payload: FeatureSnapshot = { feature, version, cohorts: Object.fromEntries(rows.map((r) => [r.cohort, r.state])) };
    await tx.query(`INSERT INTO ${this.t.outbox} (feature, version, payload) VALUES ($1, $2, $3::jsonb)`, [feature, version, JSON.stringify(payload)]);
  }
}

function assertCommand(cmd: FlagCommand): void {
  assertName('commandId', cmd.commandId);
  assertName('feature', cmd.feature);
  assertCohort(cmd.cohort);
  if (cmd.state !== 'on' && cmd.state !== 'off') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${cmd.commandId}: state must be "on" or "off", got ${JSON.stringify(cmd.state)}`);
  }
  if (typeof cmd.source !== 'string' || typeof cmd.reason !== 'string') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${cmd.commandId}: source and reason must be strings`);
  }
}

// The Redis hash of a feature keeps its version in the field `version`, next to one field per cohort.
function assertCohort(cohort: unknown): void {
  assertName('cohort', cohort);
  if (cohort === 'version') {
    throw new PmfError('ERR_EVENT_DECODE', 'a cohort cannot be named "version": that field of the Redis flag hash holds the version');
  }
}

function assertName(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new PmfError('ERR_EVENT_DECODE', `flag ${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
}

function isoTime(value: unknown): string {
  const d = value instanceof Date ? value : new Date(String(value));
  return d.toISOString();
}

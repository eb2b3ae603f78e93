// The shared machinery of a flag write: the schema's table names, the per-feature transaction
// (lock the feature's version row, run the work, write audit entries, move the version by at most
// one and write its outbox row), the cohort row reads and writes, idempotency records, and the
// input checks every write path shares.

import { systemClock, type Clock } from '../core/clock.js';
import { PmfError } from '../core/errors.js';
import type { FlagCommand, FlagState } from '../events/flag-command.js';
import { quoteIdent, type SqlClient, type SqlQueryable } from '../store/sql-client.js';
import type { ApplyResult, AuditAction, AuditOutcome, FlagRepositoryOptions, PinChangeResult } from './flag-repository-types.js';
import { writeOutbox } from './flag-outbox-store.js';
import type { StoredRollout } from './rollout-apply.js';

export interface Tables {
  flags: string;
  versions: string;
  audit: string;
  applied: string;
  outbox: string;
  /** The function of migration 8 (flag-commands.ts applyInOneCall). */
  applyCommand: string;
}

export interface CohortRow {
  state: FlagState;
  pinned_state: FlagState | null;
  pinned_until: unknown;
  pinned_by: string | null;
  pin_active: boolean;
  held_command: FlagCommand | null;
  allocation: unknown;
  rollout: StoredRollout | null;
}

export interface AuditRecord {
  commandId: string | null;
  cohort: string;
  action: AuditAction;
  from: FlagState | null;
  to: FlagState;
  fromAllocation?: number | null;
  toAllocation?: number | null;
  source: string;
  actor: string | null;
  reason: string;
  evidence: unknown;
  outcome: AuditOutcome;
}

export interface PinEnd {
  action: 'unpin' | 'pin_expired';
  commandId: string | null;
  source: string;
  actor: string | null;
  reason: string;
  releaseHeld: boolean;
}

/** One feature's write transaction: the locked version, whether it moves, and its audit entries. */
export class FeatureWrite {
  changed = false;
  /** Written when the transaction's work is done, so every entry carries the version it ends at. */
  readonly audit: AuditRecord[] = [];
  constructor(readonly tx: SqlQueryable, readonly feature: string, readonly before: number) {}

  get version(): number {
    return this.changed ? this.before + 1 : this.before;
  }

  /** The version this transaction's changes carry. */
  change(): number {
    this.changed = true;
    return this.version;
  }
}

export class FlagWriteContext {
  readonly t: Tables;
  readonly clock: Clock;
  readonly commandsInOneCall: boolean;

  /** `schema` must already be migrated (see migrations.ts). */
  constructor(readonly sql: SqlClient, schema: string, options: FlagRepositoryOptions = {}) {
    const s = quoteIdent(schema);
    this.clock = options.clock ?? systemClock;
    this.t = {
      flags: `${s}.flags`,
      versions: `${s}.feature_versions`,
      audit: `${s}.audit_log`,
      applied: `${s}.applied_commands`,
      outbox: `${s}.outbox`,
      applyCommand: `${s}.apply_command`,
    };
    this.commandsInOneCall = options.commandsInOneCall ?? true;
  }

  /** Locks the feature, runs fn, then records a moved version with its outbox snapshot, all in one transaction. */
  withFeature<T>(feature: string, fn: (w: FeatureWrite) => Promise<T>): Promise<T> {
    return this.sql.transaction(async (tx) => {
      const w = new FeatureWrite(tx, feature, await this.lockFeature(tx, feature));
      const result = await fn(w);
      for (const entry of w.audit) await this.insertAudit(w, entry);
      if (w.changed) {
        await tx.query(`UPDATE ${this.t.versions} SET version = $2 WHERE feature = $1`, [feature, w.version]);
        await writeOutbox(tx, this.t, feature, w.version);
      }
      return result;
    });
  }

  /** Writes a cohort's state, allocation and ramp together (a rollout command). */
  async writeCohort(tx: SqlQueryable, feature: string, cohort: string, version: number, reason: string, state: FlagState, allocation: number, rollout: StoredRollout): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.t.flags} (feature, cohort, state, version, reason, updated_at, allocation, rollout)
       VALUES ($1, $2, $3, $4, $5, now(), $6::numeric, $7::jsonb)
       ON CONFLICT (feature, cohort) DO UPDATE
         SET state = excluded.state, version = excluded.version, reason = excluded.reason, updated_at = excluded.updated_at,
             allocation = excluded.allocation, rollout = excluded.rollout, held_command = NULL`,
      [feature, cohort, state, version, reason, allocation, JSON.stringify(rollout)],
    );
  }

  async setHeld(w: FeatureWrite, cohort: string, cmd: FlagCommand | null): Promise<void> {
    await w.tx.query(`UPDATE ${this.t.flags} SET held_command = $3::jsonb WHERE feature = $1 AND cohort = $2`, [
      w.feature,
      cohort,
      cmd === null ? null : JSON.stringify(cmd),
    ]);
  }

  async cohortRow(tx: SqlQueryable, feature: string, cohort: string): Promise<CohortRow | undefined> {
    const { rows } = await tx.query<CohortRow>(`SELECT ${cohortColumns('$3')} FROM ${this.t.flags} WHERE feature = $1 AND cohort = $2`, [
      feature,
      cohort,
      this.nowIso(),
    ]);
    return rows[0];
  }

  async existingRow(w: FeatureWrite, cohort: string): Promise<CohortRow> {
    const row = await this.cohortRow(w.tx, w.feature, cohort);
    if (!row) throw new PmfError('ERR_NOT_FOUND', `no flag for feature "${w.feature}" cohort "${cohort}"`);
    return row;
  }

  async priorResult(tx: SqlQueryable, commandId: string): Promise<PinChangeResult | undefined> {
    const { rows } = await tx.query<{ result: PinChangeResult }>(`SELECT result FROM ${this.t.applied} WHERE command_id = $1`, [commandId]);
    if (rows.length === 0) return undefined;
    const r = rows[0].result;
    return r.released ? { status: r.status, version: Number(r.version), released: r.released } : { status: r.status, version: Number(r.version) };
  }

  async recordResult(tx: SqlQueryable, commandId: string, result: ApplyResult): Promise<void> {
    await tx.query(`INSERT INTO ${this.t.applied} (command_id, result) VALUES ($1, $2::jsonb)`, [commandId, JSON.stringify(result)]);
  }

  audit(w: FeatureWrite, e: AuditRecord): void {
    w.audit.push(e);
  }

  async insertAudit(w: FeatureWrite, e: AuditRecord): Promise<void> {
    await w.tx.query(
      `INSERT INTO ${this.t.audit} (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13::numeric, $14::numeric)`,
      [
        e.commandId,
        w.feature,
        e.cohort,
        e.action,
        e.from,
        e.to,
        w.version,
        e.source,
        e.actor,
        e.reason,
        e.evidence === undefined || e.evidence === null ? null : JSON.stringify(e.evidence),
        e.outcome,
        e.fromAllocation ?? null,
        e.toAllocation ?? null,
      ],
    );
  }

  /** Creates the feature's version row if missing and locks it for the rest of the transaction. */
  // One round trip: ON CONFLICT DO UPDATE locks the existing row just as SELECT … FOR UPDATE would.
  async lockFeature(tx: SqlQueryable, feature: string): Promise<number> {
    const { rows } = await tx.query<{ version: unknown }>(
      `INSERT INTO ${this.t.versions} AS v (feature, version) VALUES ($1, 0)
       ON CONFLICT (feature) DO UPDATE SET version = v.version
       RETURNING version`,
      [feature],
    );
    return Number(rows[0].version);
  }

  /** The feature's full snapshot (a FeatureSnapshot) as this transaction leaves it, built in one statement. */

  nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

// `now` names the query parameter holding the injected clock's time.
export function cohortColumns(now: string): string {
  return `state, pinned_state, pinned_until, pinned_by, held_command, allocation, rollout,
    (pinned_state IS NOT NULL AND pinned_until IS NOT NULL AND pinned_until > ${now}::timestamptz) AS pin_active`;
}


export function assertCommand(cmd: FlagCommand): void {
  assertName('commandId', cmd.commandId);
  assertName('feature', cmd.feature);
  assertCohort(cmd.cohort);
  assertState(cmd.state, cmd.commandId);
  if (typeof cmd.source !== 'string' || typeof cmd.reason !== 'string') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${cmd.commandId}: source and reason must be strings`);
  }
}

export function assertState(state: unknown, commandId: string): void {
  if (state !== 'on' && state !== 'off') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${commandId}: state must be "on" or "off", got ${JSON.stringify(state)}`);
  }
}

// The Redis hash of a feature keeps its version in the field `version`, next to one field per cohort.
export function assertCohort(cohort: unknown): void {
  assertName('cohort', cohort);
  if (cohort === 'version') {
    throw new PmfError('ERR_EVENT_DECODE', 'a cohort cannot be named "version": that field of the Redis flag hash holds the version');
  }
}

export function assertName(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new PmfError('ERR_EVENT_DECODE', `flag ${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
}

export function invalidRequest(message: string): PmfError {
  return new PmfError('ERR_EVENT_DECODE', message);
}

// numeric columns come back as strings from node-postgres and as numbers from PGlite.
export function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function isoTime(value: unknown): string {
  const d = value instanceof Date ? value : new Date(String(value));
  return d.toISOString();
}

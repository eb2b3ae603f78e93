// PostgreSQL is the truth for flag state. Every write to a feature locks that feature's row in
// feature_versions first, so writers of one feature are serialised and its version only grows;
// the outbox row written in the same transaction is what later reaches Redis. One transaction
// moves a feature's version by at most one, however many cohorts it touches.

import { systemClock, type Clock } from '../core/clock.js';
import { PmfError } from '../core/errors.js';
import type { FlagCommand, FlagState } from '../events/flag-command.js';
import { quoteIdent, type SqlClient, type SqlQueryable } from '../store/sql-client.js';

export type ApplyStatus = 'applied' | 'duplicate' | 'no_change' | 'skipped_pinned';
export type AuditOutcome = 'applied' | 'skipped_pinned' | 'no_change';
/** What an audit entry records; null on entries written before migration 3. */
export type AuditAction = 'rollback' | 'restore' | 'pin' | 'unpin' | 'pin_expired' | 'register';

export interface ApplyResult {
  status: ApplyStatus;
  /** The feature's version after the command (for a duplicate: as recorded when first applied). */
  version: number;
}

export interface PinRequest {
  /** Idempotency key: a retried request with the same id changes nothing. */
  commandId: string;
  feature: string;
  cohort: string;
  state: FlagState;
  /** ISO 8601 time the pin ends; must be in the future. */
  until: string;
  actor: string;
  reason: string;
}

export interface UnpinRequest {
  commandId: string;
  feature: string;
  cohort: string;
  actor: string;
  reason: string;
  /** Apply the automatic command the pin held back (default true); false discards it. */
  releaseHeld?: boolean;
}

export interface PinChangeResult extends ApplyResult {
  /** Id of the held automatic command that took effect because the pin ended. */
  released?: string;
}

export interface ExpiredPin {
  feature: string;
  cohort: string;
  version: number;
  released?: string;
}

/** What Redis holds for one feature, and what each outbox row carries. */
export interface FeatureSnapshot {
  feature: string;
  version: number;
  cohorts: Record<string, FlagState>;
}

/** One cohort in the admin API's GET /v1/flags/{feature} (docs/contract.md). */
export interface CohortFlag {
  state: FlagState;
  version: number;
  reason: string;
  updatedAt: string;
  /** Present only while a pin is in force, as are the other pin fields. */
  pinnedUntil?: string;
  pinnedState?: FlagState;
  pinnedBy?: string;
  /** The automatic command a pin is holding back (applied when the pin ends). */
  held?: { commandId: string; state: FlagState; reason: string };
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
  action: AuditAction | null;
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

export interface AuditQuery {
  cohort?: string;
  /** At most this many entries (default 100, capped at 1000). */
  limit?: number;
  /** Only entries with an id below this (paging backwards). */
  beforeId?: number;
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

export interface FlagRepositoryOptions {
  /** Decides whether a pin is in force; inject a ManualClock to test expiry without waiting. */
  clock?: Clock;
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
  held_command: FlagCommand | null;
}

interface AuditRecord {
  commandId: string | null;
  cohort: string;
  action: AuditAction;
  from: FlagState | null;
  to: FlagState;
  source: string;
  actor: string | null;
  reason: string;
  evidence: unknown;
  outcome: AuditOutcome;
}

interface PinEnd {
  action: 'unpin' | 'pin_expired';
  commandId: string | null;
  source: string;
  actor: string | null;
  reason: string;
  releaseHeld: boolean;
}

/** One feature's write transaction: the locked version, whether it moves, and its audit entries. */
class FeatureWrite {
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

export class FlagRepository {
  private readonly t: Tables;
  private readonly clock: Clock;

  /** `schema` must already be migrated (see migrations.ts). */
  constructor(private readonly sql: SqlClient, schema: string, options: FlagRepositoryOptions = {}) {
    const s = quoteIdent(schema);
    this.clock = options.clock ?? systemClock;
    this.t = {
      flags: `${s}.flags`,
      versions: `${s}.feature_versions`,
      audit: `${s}.audit_log`,
      applied: `${s}.applied_commands`,
      outbox: `${s}.outbox`,
    };
  }

  /** Applies a command exactly once, in one transaction (see docs/architecture.md). */
  async applyCommand(cmd: FlagCommand): Promise<ApplyResult> {
    assertCommand(cmd);
    return this.withFeature(cmd.feature, async (w) => {
      // Checked after the lock: a concurrent delivery of the same command has committed by now.
      const seen = await this.priorResult(w.tx, cmd.commandId);
      if (seen) return { status: 'duplicate', version: seen.version };

      let row = await this.cohortRow(w.tx, cmd.feature, cmd.cohort);
      if (row && row.pinned_state !== null && !row.pin_active) {
        await this.endPin(w, cmd.cohort, row, expiredPinEnd(row));
        row = await this.cohortRow(w.tx, cmd.feature, cmd.cohort);
      }
      const fromState = row?.state ?? null;
      const automatic = cmd.source === 'verdict';

      let outcome: AuditOutcome;
      let reason = cmd.reason;
      if (row?.pin_active && row.pinned_state !== cmd.state) {
        outcome = 'skipped_pinned';
        const by = row.pinned_by ? ` by ${row.pinned_by}` : '';
        const held = automatic ? '; held until the pin ends' : '';
        reason = `not applied: cohort pinned ${row.pinned_state} until ${isoTime(row.pinned_until)}${by}${held}; command reason: ${cmd.reason}`;
        // Only automatic commands wait: a person gets the refusal back and can decide again.
        if (automatic) await this.setHeld(w, cmd.cohort, cmd);
      } else if (fromState === cmd.state) {
        outcome = 'no_change';
        // A newer automatic decision that agrees with the pin makes a held one obsolete.
        if (automatic && row?.held_command) await this.setHeld(w, cmd.cohort, null);
      } else {
        outcome = 'applied';
        const version = w.change();
        await w.tx.query(
          `INSERT INTO ${this.t.flags} (feature, cohort, state, version, reason, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (feature, cohort) DO UPDATE
             SET state = excluded.state, version = excluded.version, reason = excluded.reason,
                 updated_at = excluded.updated_at, held_command = NULL`,
          [cmd.feature, cmd.cohort, cmd.state, version, cmd.reason],
        );
      }

      this.audit(w, {
        commandId: cmd.commandId,
        cohort: cmd.cohort,
        action: cmd.action,
        from: fromState,
        to: cmd.state,
        source: cmd.source,
        actor: cmd.actor ?? null,
        reason,
        evidence: cmd.evidence,
        outcome,
      });
      const result: ApplyResult = { status: outcome, version: w.version };
      await this.recordResult(w.tx, cmd.commandId, result);
      return result;
    });
  }

  /**
   * Pins a cohort to a state until a time: the flag takes that state now (a new version if it
   * differs) and automatic commands against it are held back until the pin ends.
   */
  async pin(req: PinRequest): Promise<PinChangeResult> {
    assertName('commandId', req.commandId);
    assertName('feature', req.feature);
    assertCohort(req.cohort);
    assertState(req.state, req.commandId);
    assertName('actor', req.actor);
    const until = Date.parse(req.until);
    if (Number.isNaN(until)) throw invalidRequest(`pin until must be an ISO 8601 time, got ${JSON.stringify(req.until)}`);
    if (until <= this.clock.now()) throw invalidRequest(`pin until ${req.until} is not in the future`);
    const untilIso = new Date(until).toISOString();

    return this.withFeature(req.feature, async (w) => {
      const seen = await this.priorResult(w.tx, req.commandId);
      if (seen) return { ...seen, status: 'duplicate' };
      let row = await this.existingRow(w, req.cohort);
      let released: string | undefined;
      if (row.pinned_state !== null && !row.pin_active) {
        released = await this.endPin(w, req.cohort, row, expiredPinEnd(row));
        row = await this.existingRow(w, req.cohort);
      }
      const moves = row.state !== req.state;
      const version = moves ? w.change() : w.version;
      const heldObsolete = row.held_command !== null && row.held_command.state === req.state;
      await w.tx.query(
        `UPDATE ${this.t.flags}
            SET pinned_state = $3, pinned_until = $4::timestamptz, pinned_by = $5, pin_reason = $6,
                held_command = CASE WHEN $7::boolean THEN NULL ELSE held_command END,
                state = $3, version = CASE WHEN $9::boolean THEN $8::bigint ELSE version END,
                reason = CASE WHEN $9::boolean THEN $10 ELSE reason END,
                updated_at = CASE WHEN $9::boolean THEN now() ELSE updated_at END
          WHERE feature = $1 AND cohort = $2`,
        [req.feature, req.cohort, req.state, untilIso, req.actor, req.reason, heldObsolete, version, moves, `pinned ${req.state} by ${req.actor}: ${req.reason}`],
      );
      this.audit(w, {
        commandId: req.commandId,
        cohort: req.cohort,
        action: 'pin',
        from: row.state,
        to: req.state,
        source: 'manual',
        actor: req.actor,
        reason: `pinned ${req.state} until ${untilIso}: ${req.reason}`,
        evidence: null,
        outcome: 'applied',
      });
      const result: PinChangeResult = { status: 'applied', version: w.version };
      if (released) result.released = released;
      await this.recordResult(w.tx, req.commandId, result);
      return result;
    });
  }

  /** Removes a pin now; the automatic command it held (if any) takes effect unless releaseHeld is false. */
  async unpin(req: UnpinRequest): Promise<PinChangeResult> {
    assertName('commandId', req.commandId);
    assertName('feature', req.feature);
    assertCohort(req.cohort);
    assertName('actor', req.actor);
    return this.withFeature(req.feature, async (w) => {
      const seen = await this.priorResult(w.tx, req.commandId);
      if (seen) return { ...seen, status: 'duplicate' };
      const row = await this.existingRow(w, req.cohort);
      let result: PinChangeResult;
      if (row.pinned_state === null) {
        this.audit(w, {
          commandId: req.commandId,
          cohort: req.cohort,
          action: 'unpin',
          from: row.state,
          to: row.state,
          source: 'manual',
          actor: req.actor,
          reason: `no pin to remove: ${req.reason}`,
          evidence: null,
          outcome: 'no_change',
        });
        result = { status: 'no_change', version: w.version };
      } else {
        const released = await this.endPin(w, req.cohort, row, {
          action: 'unpin',
          commandId: req.commandId,
          source: 'manual',
          actor: req.actor,
          reason: `pin ${row.pinned_state} removed by ${req.actor}: ${req.reason}`,
          releaseHeld: req.releaseHeld ?? true,
        });
        result = { status: 'applied', version: w.version };
        if (released) result.released = released;
      }
      await this.recordResult(w.tx, req.commandId, result);
      return result;
    });
  }

  /** Ends every pin whose time has passed (releasing held commands); at most `limit` features per call. */
  async expirePins(limit = 100): Promise<ExpiredPin[]> {
    const now = this.nowIso();
    const { rows } = await this.sql.query<{ feature: string }>(
      `SELECT DISTINCT feature FROM ${this.t.flags}
        WHERE pinned_state IS NOT NULL AND (pinned_until IS NULL OR pinned_until <= $1::timestamptz)
        ORDER BY feature LIMIT $2`,
      [now, limit],
    );
    const expired: ExpiredPin[] = [];
    for (const { feature } of rows) {
      const ended = await this.withFeature(feature, async (w) => {
        // Re-read under the lock: a person may have re-pinned or unpinned meanwhile.
        const { rows: cohorts } = await w.tx.query<CohortRow & { cohort: string }>(
          `SELECT cohort, ${cohortColumns('$2')} FROM ${this.t.flags}
            WHERE feature = $1 AND pinned_state IS NOT NULL AND (pinned_until IS NULL OR pinned_until <= $2::timestamptz)
            ORDER BY cohort`,
          [feature, this.nowIso()],
        );
        const out: { cohort: string; released?: string }[] = [];
        for (const row of cohorts) {
          const released = await this.endPin(w, row.cohort, row, expiredPinEnd(row));
          out.push(released ? { cohort: row.cohort, released } : { cohort: row.cohort });
        }
        return out.map((o) => ({ feature, version: w.version, ...o }));
      });
      expired.push(...ended);
    }
    return expired;
  }

  /**
   * Gives every guarded cohort of a rule a flag row in state `on` if it has none. The version
   * moves (and an outbox row is written) only when a row was inserted, so reloading rules is free.
   */
  async ensureGuarded(feature: string, cohorts: readonly string[], reason = 'guarded cohort registered by rules'): Promise<EnsureGuardedResult> {
    assertName('feature', feature);
    for (const c of cohorts) assertCohort(c);
    if (cohorts.length === 0) {
      const { rows } = await this.sql.query<{ version: unknown }>(`SELECT version FROM ${this.t.versions} WHERE feature = $1`, [feature]);
      return { inserted: [], version: rows.length > 0 ? Number(rows[0].version) : 0 };
    }
    return this.withFeature(feature, async (w) => {
      const { rows } = await w.tx.query<{ cohort: string }>(
        `INSERT INTO ${this.t.flags} (feature, cohort, state, version, reason, updated_at)
         SELECT $1, c, 'on', $2, $3, now() FROM jsonb_array_elements_text($4::jsonb) AS c
         ON CONFLICT (feature, cohort) DO NOTHING
         RETURNING cohort`,
        [feature, w.before + 1, reason, JSON.stringify([...new Set(cohorts)])],
      );
      if (rows.length === 0) return { inserted: [], version: w.version };
      w.change();
      const inserted = rows.map((r) => r.cohort).sort();
      for (const cohort of inserted) {
        this.audit(w, {
          commandId: null,
          cohort,
          action: 'register',
          from: null,
          to: 'on',
          source: 'rules',
          actor: null,
          reason,
          evidence: null,
          outcome: 'applied',
        });
      }
      return { inserted, version: w.version };
    });
  }

  /** Every feature the store has flag rows for, sorted. */
  async listFeatures(): Promise<string[]> {
    const { rows } = await this.sql.query<{ feature: string }>(`SELECT feature FROM ${this.t.versions} ORDER BY feature`);
    return rows.map((r) => r.feature);
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
      pinned_state: FlagState | null;
      pinned_until: unknown;
      pinned_by: string | null;
      pin_active: boolean;
      held_command: FlagCommand | null;
    }>(
      `SELECT v.version AS feature_version, f.cohort, f.state, f.version, f.reason, f.updated_at,
              f.pinned_state, f.pinned_until, f.pinned_by, f.held_command,
              (f.pinned_state IS NOT NULL AND f.pinned_until > $2::timestamptz) AS pin_active
         FROM ${this.t.versions} v JOIN ${this.t.flags} f ON f.feature = v.feature
        WHERE v.feature = $1
        ORDER BY f.cohort`,
      [feature, this.nowIso()],
    );
    if (rows.length === 0) return null;
    const cohorts = Object.fromEntries(
      rows.map((r): [string, CohortFlag] => {
        const flag: CohortFlag = { state: r.state, version: Number(r.version), reason: r.reason, updatedAt: isoTime(r.updated_at) };
        if (r.pin_active) {
          flag.pinnedUntil = isoTime(r.pinned_until);
          flag.pinnedState = r.pinned_state!;
          if (r.pinned_by) flag.pinnedBy = r.pinned_by;
          if (r.held_command) flag.held = { commandId: r.held_command.commandId, state: r.held_command.state, reason: r.held_command.reason };
        }
        return [r.cohort, flag];
      }),
    );
    return { feature, version: Number(rows[0].feature_version), cohorts };
  }

  /** A feature's audit entries, newest first (a number is the limit, for older callers). */
  async auditLog(feature: string, query: number | AuditQuery = {}): Promise<AuditEntry[]> {
    const q: AuditQuery = typeof query === 'number' ? { limit: query } : query;
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 100), 1), 1000);
    const { rows } = await this.sql.query<Record<string, unknown>>(
      `SELECT id, command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, created_at
         FROM ${this.t.audit}
        WHERE feature = $1 AND ($2::text IS NULL OR cohort = $2) AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC LIMIT $4`,
      [feature, q.cohort ?? null, q.beforeId ?? null, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      commandId: (r.command_id as string | null) ?? null,
      feature: r.feature as string,
      cohort: r.cohort as string,
      action: (r.action as AuditAction | null) ?? null,
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

  /** Unpublished outbox rows, oldest first, leaving out the features in `except` (quarantined by the relay). */
  async pendingOutbox(limit = 100, except: readonly string[] = []): Promise<OutboxEntry[]> {
    const { rows } = await this.sql.query<{ id: unknown; feature: string; version: unknown; payload: FeatureSnapshot }>(
      `SELECT id, feature, version, payload FROM ${this.t.outbox}
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
      `UPDATE ${this.t.outbox} SET published_at = now()
        WHERE published_at IS NULL AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)
        RETURNING id`,
      [JSON.stringify(ids)],
    );
    return rows.length;
  }

  /** Every feature's current state, for reconciling Redis at start-up. */
  async allFeatureSnapshots(): Promise<FeatureSnapshot[]> {
    return this.snapshots(null);
  }

  /** One feature's current state read in one statement (version and cohorts agree), or null. */
  async featureSnapshot(feature: string): Promise<FeatureSnapshot | null> {
    return (await this.snapshots(feature))[0] ?? null;
  }

  private async snapshots(feature: string | null): Promise<FeatureSnapshot[]> {
    const { rows } = await this.sql.query<{ feature: string; version: unknown; cohort: string; state: FlagState }>(
      `SELECT v.feature, v.version, f.cohort, f.state
         FROM ${this.t.versions} v JOIN ${this.t.flags} f ON f.feature = v.feature
        WHERE $1::text IS NULL OR v.feature = $1
        ORDER BY v.feature, f.cohort`,
      [feature],
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

  /** Locks the feature, runs fn, then records a moved version with its outbox snapshot, all in one transaction. */
  private withFeature<T>(feature: string, fn: (w: FeatureWrite) => Promise<T>): Promise<T> {
    return this.sql.transaction(async (tx) => {
      const w = new FeatureWrite(tx, feature, await this.lockFeature(tx, feature));
      const result = await fn(w);
      for (const entry of w.audit) await this.insertAudit(w, entry);
      if (w.changed) {
        await tx.query(`UPDATE ${this.t.versions} SET version = $2 WHERE feature = $1`, [feature, w.version]);
        await this.writeOutbox(tx, feature, w.version);
      }
      return result;
    });
  }

  /** Ends a pin inside w's transaction; returns the id of the held command it applied, if any. */
  private async endPin(w: FeatureWrite, cohort: string, row: CohortRow, end: PinEnd): Promise<string | undefined> {
    await w.tx.query(
      `UPDATE ${this.t.flags}
          SET pinned_state = NULL, pinned_until = NULL, pinned_by = NULL, pin_reason = NULL, held_command = NULL
        WHERE feature = $1 AND cohort = $2`,
      [w.feature, cohort],
    );
    this.audit(w, {
      commandId: end.commandId,
      cohort,
      action: end.action,
      from: row.state,
      to: row.state,
      source: end.source,
      actor: end.actor,
      reason: end.reason,
      evidence: null,
      outcome: 'applied',
    });
    const held = row.held_command;
    if (!held) return undefined;
    const heldEntry = { commandId: held.commandId, cohort, action: held.action, from: row.state, to: held.state, source: held.source, actor: held.actor ?? null, evidence: held.evidence };
    if (!end.releaseHeld) {
      this.audit(w, { ...heldEntry, reason: `discarded when the pin ended (${end.actor ?? 'system'}): ${held.reason}`, outcome: 'skipped_pinned' });
      return undefined;
    }
    if (held.state === row.state) {
      this.audit(w, { ...heldEntry, reason: `released when the pin ended; cohort already ${row.state}: ${held.reason}`, outcome: 'no_change' });
      return undefined;
    }
    const version = w.change();
    await w.tx.query(
      `UPDATE ${this.t.flags} SET state = $3, version = $4, reason = $5, updated_at = now() WHERE feature = $1 AND cohort = $2`,
      [w.feature, cohort, held.state, version, held.reason],
    );
    this.audit(w, { ...heldEntry, reason: `released when the pin ended: ${held.reason}`, outcome: 'applied' });
    return held.commandId;
  }

  private async setHeld(w: FeatureWrite, cohort: string, cmd: FlagCommand | null): Promise<void> {
    await w.tx.query(`UPDATE ${this.t.flags} SET held_command = $3::jsonb WHERE feature = $1 AND cohort = $2`, [
      w.feature,
      cohort,
      cmd === null ? null : JSON.stringify(cmd),
    ]);
  }

  private async cohortRow(tx: SqlQueryable, feature: string, cohort: string): Promise<CohortRow | undefined> {
    const { rows } = await tx.query<CohortRow>(`SELECT ${cohortColumns('$3')} FROM ${this.t.flags} WHERE feature = $1 AND cohort = $2`, [
      feature,
      cohort,
      this.nowIso(),
    ]);
    return rows[0];
  }

  private async existingRow(w: FeatureWrite, cohort: string): Promise<CohortRow> {
    const row = await this.cohortRow(w.tx, w.feature, cohort);
    if (!row) throw new PmfError('ERR_NOT_FOUND', `no flag for feature "${w.feature}" cohort "${cohort}"`);
    return row;
  }

  private async priorResult(tx: SqlQueryable, commandId: string): Promise<PinChangeResult | undefined> {
    const { rows } = await tx.query<{ result: PinChangeResult }>(`SELECT result FROM ${this.t.applied} WHERE command_id = $1`, [commandId]);
    if (rows.length === 0) return undefined;
    const r = rows[0].result;
    return r.released ? { status: r.status, version: Number(r.version), released: r.released } : { status: r.status, version: Number(r.version) };
  }

  private async recordResult(tx: SqlQueryable, commandId: string, result: ApplyResult): Promise<void> {
    await tx.query(`INSERT INTO ${this.t.applied} (command_id, result) VALUES ($1, $2::jsonb)`, [commandId, JSON.stringify(result)]);
  }

  private audit(w: FeatureWrite, e: AuditRecord): void {
    w.audit.push(e);
  }

  private async insertAudit(w: FeatureWrite, e: AuditRecord): Promise<void> {
    await w.tx.query(
      `INSERT INTO ${this.t.audit} (command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)`,
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
      ],
    );
  }

  /** Creates the feature's version row if missing and locks it for the rest of the transaction. */
  // One round trip: ON CONFLICT DO UPDATE locks the existing row just as SELECT … FOR UPDATE would.
  private async lockFeature(tx: SqlQueryable, feature: string): Promise<number> {
    const { rows } = await tx.query<{ version: unknown }>(
      `INSERT INTO ${this.t.versions} AS v (feature, version) VALUES ($1, 0)
       ON CONFLICT (feature) DO UPDATE SET version = v.version
       RETURNING version`,
      [feature],
    );
    return Number(rows[0].version);
  }

  /** The feature's full snapshot (a FeatureSnapshot) as this transaction leaves it, built in one statement. */
  private async writeOutbox(tx: SqlQueryable, feature: string, version: number): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.t.outbox} (feature, version, payload)
       SELECT $1, $2::bigint, jsonb_build_object('feature', $1::text, 'version', $2::bigint, 'cohorts', jsonb_object_agg(cohort, state))
         FROM ${this.t.flags} WHERE feature = $1`,
      [feature, version],
    );
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

// `now` names the query parameter holding the injected clock's time.
function cohortColumns(now: string): string {
  return `state, pinned_state, pinned_until, pinned_by, held_command,
    (pinned_state IS NOT NULL AND pinned_until IS NOT NULL AND pinned_until > ${now}::timestamptz) AS pin_active`;
}

function expiredPinEnd(row: CohortRow): PinEnd {
  const by = row.pinned_by ? ` by ${row.pinned_by}` : '';
  const until = row.pinned_until === null || row.pinned_until === undefined ? 'an unknown time' : isoTime(row.pinned_until);
  return { action: 'pin_expired', commandId: null, source: 'system', actor: null, reason: `pin ${row.pinned_state}${by} expired at ${until}`, releaseHeld: true };
}

function assertCommand(cmd: FlagCommand): void {
  assertName('commandId', cmd.commandId);
  assertName('feature', cmd.feature);
  assertCohort(cmd.cohort);
  assertState(cmd.state, cmd.commandId);
  if (typeof cmd.source !== 'string' || typeof cmd.reason !== 'string') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${cmd.commandId}: source and reason must be strings`);
  }
}

function assertState(state: unknown, commandId: string): void {
  if (state !== 'on' && state !== 'off') {
    throw new PmfError('ERR_EVENT_DECODE', `flag command ${commandId}: state must be "on" or "off", got ${JSON.stringify(state)}`);
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

function invalidRequest(message: string): PmfError {
  return new PmfError('ERR_EVENT_DECODE', message);
}

function isoTime(value: unknown): string {
  const d = value instanceof Date ? value : new Date(String(value));
  return d.toISOString();
}

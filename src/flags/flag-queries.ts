// Read queries on the flag store: the features it knows, the admin API's view of one feature,
// its audit log, and the per-feature snapshots Redis is reconciled from.

import type { CohortAllocation } from '../client/allocation.js';
import type { FlagState } from '../events/flag-command.js';
import type { AuditAction, AuditEntry, AuditOutcome, AuditQuery, CohortFlag, FeatureFlags, FeatureSnapshot } from './flag-repository-types.js';
import { isoTime, numberOrNull, type CohortRow, type FlagWriteContext } from './flag-write-context.js';
import type { StoredRollout } from './rollout-apply.js';

export class FlagQueries {
  constructor(private readonly ctx: FlagWriteContext) {}

  /** Every feature the store has flag rows for, sorted. */
  async listFeatures(): Promise<string[]> {
    const { rows } = await this.ctx.sql.query<{ feature: string }>(`SELECT feature FROM ${this.ctx.t.versions} ORDER BY feature`);
    return rows.map((r) => r.feature);
  }

  /** The admin API's view of a feature, or null if it has no flag rows. */
  async getFlag(feature: string): Promise<FeatureFlags | null> {
    const { rows } = await this.ctx.sql.query<
      CohortRow & { feature_version: unknown; cohort: string; version: unknown; reason: string; updated_at: unknown }
    >(
      `SELECT v.version AS feature_version, f.cohort, f.state, f.version, f.reason, f.updated_at,
              f.pinned_state, f.pinned_until, f.pinned_by, f.held_command, f.allocation, f.rollout,
              (f.pinned_state IS NOT NULL AND f.pinned_until > $2::timestamptz) AS pin_active
         FROM ${this.ctx.t.versions} v JOIN ${this.ctx.t.flags} f ON f.feature = v.feature
        WHERE v.feature = $1
        ORDER BY f.cohort`,
      [feature, this.ctx.nowIso()],
    );
    if (rows.length === 0) return null;
    const cohorts = Object.fromEntries(
      rows.map((r): [string, CohortFlag] => {
        const flag: CohortFlag = { state: r.state, version: Number(r.version), reason: r.reason, updatedAt: isoTime(r.updated_at) };
        if (r.allocation !== null && r.allocation !== undefined) flag.allocation = Number(r.allocation);
        if (r.rollout) flag.rollout = r.rollout;
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
    const { rows } = await this.ctx.sql.query<Record<string, unknown>>(
      `SELECT id, command_id, feature, cohort, action, from_state, to_state, from_allocation, to_allocation, version, source, actor, reason, evidence, outcome, created_at
         FROM ${this.ctx.t.audit}
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
      fromAllocation: numberOrNull(r.from_allocation),
      toAllocation: numberOrNull(r.to_allocation),
      version: Number(r.version),
      source: r.source as string,
      actor: (r.actor as string | null) ?? null,
      reason: r.reason as string,
      evidence: r.evidence ?? null,
      outcome: r.outcome as AuditOutcome,
      createdAt: isoTime(r.created_at),
    }));
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
    const { rows } = await this.ctx.sql.query<{ feature: string; version: unknown; cohort: string; state: FlagState; allocation: unknown; rollout: StoredRollout | null }>(
      `SELECT v.feature, v.version, f.cohort, f.state, f.allocation, f.rollout
         FROM ${this.ctx.t.versions} v JOIN ${this.ctx.t.flags} f ON f.feature = v.feature
        WHERE $1::text IS NULL OR v.feature = $1
        ORDER BY v.feature, f.cohort`,
      [feature],
    );
    const snapshots: FeatureSnapshot[] = [];
    let entries: [string, FlagState][] = [];
    let allocations: Record<string, CohortAllocation> = {};
    rows.forEach((r, i) => {
      entries.push([r.cohort, r.state]);
      const allocation = numberOrNull(r.allocation);
      if (allocation !== null && r.rollout) allocations[r.cohort] = { percent: allocation, salt: r.rollout.salt, control: r.rollout.control };
      if (rows[i + 1]?.feature !== r.feature) {
        const snapshot: FeatureSnapshot = { feature: r.feature, version: Number(r.version), cohorts: Object.fromEntries(entries) };
        if (Object.keys(allocations).length > 0) snapshot.allocations = allocations;
        snapshots.push(snapshot);
        entries = [];
        allocations = {};
      }
    });
    return snapshots;
  }
}

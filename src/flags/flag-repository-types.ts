// The flag store's public shapes: what commands, pins and rule registration return, what the
// admin API reads (flags, audit entries) and what an outbox row carries to Redis.

import type { CohortAllocation } from '../client/allocation.js';
import type { Clock } from '../core/clock.js';
import type { FlagState, RolloutAction } from '../events/flag-command.js';
import type { StoredRollout } from './rollout-apply.js';

export type ApplyStatus = 'applied' | 'duplicate' | 'no_change' | 'skipped_pinned';
export type AuditOutcome = 'applied' | 'skipped_pinned' | 'no_change';
/** What an audit entry records; null on entries written before migration 3. */
export type AuditAction = 'rollback' | 'restore' | 'pin' | 'unpin' | 'pin_expired' | 'register' | RolloutAction;

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
  /** Cohorts in a rollout: allocation, salt and control (absent in snapshots written before rollouts). */
  allocations?: Record<string, CohortAllocation>;
}

/** How a newly registered guarded cohort starts its rollout. */
export interface RolloutStart {
  percent: number;
  stages: number;
  salt: string;
  control: string;
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
  /** Cohorts in a rollout: percent of the cohort's users served it, and the ramp. */
  allocation?: number;
  rollout?: StoredRollout;
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
  /** Allocation before and after, for cohorts in a rollout (null otherwise). */
  fromAllocation: number | null;
  toAllocation: number | null;
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
  /**
   * Apply every command (rollback, restore, rollout step; pinned cohort or not) in one database
   * round trip (default true). false takes the multi-statement path: the same rows and results,
   * kept as the reference of the equivalence tests and the in-run baseline of bench:flags.
   */
  commandsInOneCall?: boolean;
}

/** A command's result and, when it moved the version in one call, the outbox row it wrote (to send to Redis at once). */
export interface AppliedCommand {
  result: ApplyResult;
  outbox?: OutboxEntry;
}

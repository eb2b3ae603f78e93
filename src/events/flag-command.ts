// A command on pmf.commands.v1. commandId is deterministic for automatic commands, so a
// re-emitted verdict produces the same id and the flag writer applies it once.

import type { Verdict } from './verdict.js';

export type FlagState = 'on' | 'off';

/** Where a cohort's rollout is (docs/rollouts.md). */
export type RolloutStatus = 'ramping' | 'holding' | 'paused' | 'complete' | 'rolled-back' | 'aborted';
export type RolloutAction = 'start' | 'pause' | 'resume' | 'advance' | 'abort' | 'hold' | 'complete';

/** What a rollout command leaves in force: the cohort's allocation and ramp, next to its state. */
export interface RolloutTarget {
  /** 1-based stage; 0 once rolled back or aborted. */
  stage: number;
  stages: number;
  /** Percent of the cohort's users served the cohort; the rest get the control. */
  percent: number;
  status: RolloutStatus;
  salt: string;
  control: string;
}

export interface FlagCommand {
  commandId: string;
  feature: string;
  cohort: string;
  /** rollback/restore, or a step of a rollout (then `rollout` is set). */
  action: 'rollback' | 'restore' | RolloutAction;
  /** The state the cohort's flag should have after the command. */
  state: FlagState;
  source: 'verdict' | 'manual';
  /** Why: the verdict's reason line, or a person's note. */
  reason: string;
  /** The verdict that caused it (absent for manual commands). */
  evidence?: Verdict;
  issuedAt: string;
  actor?: string;
  /** Rollout commands (and rollbacks of a cohort in a rollout): allocation and state in one step. */
  rollout?: RolloutTarget;
  /** HMAC over every other field, `v1.<keyId>.<hex>` (events/command-signature.ts). */
  signature?: string;
}

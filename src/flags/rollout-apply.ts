// What a rollout command does to a cohort's stored flag, decided without the database: the flag
// store reads the row under its feature lock, asks here, and writes the answer in the same
// transaction. State, allocation and ramp move together, so one version carries all three.

import type { CohortAllocation } from '../client/allocation.js';
import { ALLOCATION_FIELD, CONTROL_FIELD, SALT_FIELD } from './redis-keys.js';
import type { FlagCommand, FlagState, RolloutTarget } from '../events/flag-command.js';

/** The ramp as the flags table keeps it (column `rollout`); allocation has its own column. */
export interface StoredRollout {
  stage: number;
  stages: number;
  status: RolloutTarget['status'];
  salt: string;
  control: string;
}

export interface RolloutRowView {
  state: FlagState;
  /** Percent served; null for a cohort that has never been in a rollout (serves everyone). */
  allocation: number | null;
  rollout: StoredRollout | null;
}

export type RolloutDecision =
  | { outcome: 'applied'; state: FlagState; allocation: number; rollout: StoredRollout }
  | { outcome: 'no_change'; reason?: string };

export function storedRollout(target: RolloutTarget): StoredRollout {
  return { stage: target.stage, stages: target.stages, status: target.status, salt: target.salt, control: target.control };
}

/**
 * Applied when anything the cohort serves or shows changes. An automatic advance never lowers
 * what a cohort serves: a cohort that served everyone before its rule gained a rollout is not cut
 * back to the first stages by the ramp catching up (a person can, with abort and start).
 */
export function decideRollout(row: RolloutRowView | null, cmd: FlagCommand & { rollout: RolloutTarget }): RolloutDecision {
  const target = cmd.rollout;
  const next = storedRollout(target);
  if (row) {
    const serving = row.state === 'off' ? 0 : (row.allocation ?? 100);
    if (cmd.source === 'verdict' && cmd.action === 'advance' && cmd.state === 'on' && target.percent < serving) {
      return { outcome: 'no_change', reason: `not applied: the cohort already serves ${serving} %, more than stage ${target.stage}'s ${target.percent} %; ${cmd.reason}` };
    }
    const r = row.rollout;
    const sameRamp = r !== null && r.stage === next.stage && r.stages === next.stages && r.status === next.status && r.salt === next.salt && r.control === next.control;
    const same = row.state === cmd.state && row.allocation === target.percent && sameRamp;
    if (same) return { outcome: 'no_change' };
  }
  return { outcome: 'applied', state: cmd.state, allocation: target.percent, rollout: next };
}

/** The Redis hash fields of one cohort in a rollout (see docs/rollouts.md). */
export function allocationFields(cohort: string, a: CohortAllocation): [string, string][] {
  return [
    [`${ALLOCATION_FIELD}${cohort}`, String(a.percent)],
    [`${SALT_FIELD}${cohort}`, a.salt],
    [`${CONTROL_FIELD}${cohort}`, a.control],
  ];
}

// Connects the ramp state machine to the verdict engine: keeps each guarded cohort's ramp in the
// engine's memory, turns the ramp's changes into commands with deterministic ids, describes the
// ramp in verdicts, and keeps the exposure shares the SRM check must expect while allocations move.

import type { FlagCommand } from '../events/flag-command.js';
import type { RolloutSteer } from '../events/rollout-steer.js';
import type { RolloutView, Verdict } from '../events/verdict.js';
import type { Rollout } from '../rules/rollout-schema.js';
import type { Rule } from '../rules/schema.js';
import { hashId } from './content-id.js';
import { accumulateExpected, allocationOf, impliedShares, startRamp, unmetMinimums, type RampChange, type RampState } from './rollout-ramp.js';

/** One guarded cohort's ramp, kept in the engine's (checkpointed) memory. */
export interface CohortRollout {
  /** The rollout (as JSON) the ramp follows; an edited rollout keeps the stage, clamped. */
  plan: string;
  ramp: RampState;
  /** How many times the rollout was (re)started; part of command ids so a restart gets new ones. */
  epoch: number;
  /** Steering requests already applied (the newest few), so a re-delivered one changes nothing. */
  steers: string[];
  /** The outcome of the last steering request, for the status page. */
  lastSteer?: { steerId: string; action: string; actor: string; result: 'applied' | 'refused'; reason: string };
}

/** Per feature: users expected per cohort so far under the allocations in force when they arrived. */
export interface FeatureRollout {
  expected: Record<string, number>;
  /** Exposed users of the declared cohorts at the last evaluation. */
  lastTotal: number;
}

const STEERS_KEPT = 64;

/** The cohort's ramp, started at the cohort's first exposure when the engine first sees it. */
export function ensureRamp(existing: CohortRollout | undefined, plan: Rollout, firstExposureAt: number): CohortRollout {
  const planJson = JSON.stringify(plan);
  if (!existing) {
    const at = Number.isFinite(firstExposureAt) ? firstExposureAt : 0;
    return { plan: planJson, ramp: startRamp(plan, at, 0), epoch: 0, steers: [] };
  }
  if (existing.plan === planJson) return existing;
  const stage = Math.min(existing.ramp.stage, plan.stages.length - 1);
  return { ...existing, plan: planJson, ramp: { ...existing.ramp, stage } };
}

/** The declared cohorts' shares as the rules give them: the rule's, else equal among control and guarded. */
export function baseShares(rule: Rule): Record<string, number> {
  if (rule.cohorts.expectedShares) return rule.cohorts.expectedShares;
  const declared = [...(rule.cohorts.control ? [rule.cohorts.control] : []), ...(rule.cohorts.guarded ?? [])];
  return Object.fromEntries(declared.map((c) => [c, 1]));
}

/**
 * Folds the users first exposed since the last evaluation into the expected counts at the
 * allocations in force now, and returns the shares the SRM check must expect (positive only).
 */
export function srmExpectation(
  rule: Rule,
  feature: FeatureRollout | undefined,
  allocations: Record<string, number>,
  exposures: Record<string, number>,
): { shares: Record<string, number>; feature: FeatureRollout } {
  const base = baseShares(rule);
  const now = impliedShares(base, rule.cohorts.control!, allocations);
  const total = Object.keys(base).reduce((s, c) => s + (exposures[c] ?? 0), 0);
  const prev = feature ?? { expected: {}, lastTotal: 0 };
  const expected = accumulateExpected(prev.expected, total - prev.lastTotal, now);
  const next = { expected, lastTotal: Math.max(total, prev.lastTotal) };
  const source = Object.values(expected).some((x) => x > 0) ? expected : now;
  const shares = Object.fromEntries(Object.entries(source).filter(([, x]) => x > 0));
  return { shares, feature: next };
}

export function rolloutView(plan: Rollout, cr: CohortRollout, at: number, exposed: number): RolloutView {
  const { ramp } = cr;
  const view: RolloutView = {
    stage: ramp.status === 'rolled-back' || ramp.status === 'aborted' ? 0 : ramp.stage + 1,
    stages: plan.stages.length,
    percent: allocationOf(plan, ramp),
    status: ramp.status,
    stageStartedAt: new Date(ramp.stageStartedAt).toISOString(),
    secondsInStage: Math.max(0, Math.floor((at - ramp.stageStartedAt) / 1000)),
    usersInStage: Math.max(0, exposed - ramp.usersAtStageStart),
    reason: ramp.reason,
  };
  const waiting = ramp.status === 'ramping' ? unmetMinimums(plan, ramp, at, exposed) : null;
  if (waiting) view.waitingFor = waiting;
  return view;
}

export interface RolloutCommandInput {
  feature: string;
  cohort: string;
  rule: Rule;
  cr: CohortRollout;
  change: RampChange;
  issuedAt: string;
  evidence?: Verdict;
  steer?: RolloutSteer;
}

/** The command that puts a ramp change in force: state and allocation together, one version. */
export function rolloutCommand(i: RolloutCommandInput): FlagCommand {
  const plan = i.rule.rollout!;
  const ruleJson = JSON.stringify(i.rule);
  // The first run's rollback keeps the id every rollback has, so a replayed log never mints a new one.
  const commandId =
    i.change.action === 'rollback' && i.cr.epoch === 0
      ? hashId('rollback', i.feature, i.cohort, ruleJson)
      : hashId('rollout', i.change.action, i.feature, i.cohort, String(i.cr.epoch), String(i.change.stage), ruleJson, i.steer?.steerId ?? '');
  const cmd: FlagCommand = {
    commandId,
    feature: i.feature,
    cohort: i.cohort,
    action: i.change.action,
    state: i.change.state,
    source: i.steer ? 'manual' : 'verdict',
    reason: i.change.reason,
    issuedAt: i.issuedAt,
    rollout: {
      stage: i.change.stage,
      stages: plan.stages.length,
      percent: i.change.percent,
      status: i.change.status,
      salt: plan.salt,
      control: i.rule.cohorts.control!,
    },
  };
  if (i.evidence) cmd.evidence = i.evidence;
  if (i.steer) cmd.actor = i.steer.actor;
  return cmd;
}

export function rememberSteer(cr: CohortRollout, steerId: string): void {
  cr.steers.push(steerId);
  if (cr.steers.length > STEERS_KEPT) cr.steers.splice(0, cr.steers.length - STEERS_KEPT);
}

// The ramp of one guarded cohort through its rollout's stages, as a pure state machine. The verdict
// engine feeds it every evaluation (outcome, event time, exposed users) and every steering request
// a person sent through the log (start, pause, resume, advance, abort); each transition that
// changes what users are served, or why, comes back as a change the engine turns into a command.
// Decisions depend only on their inputs, so a replay of the same log takes the same steps.
//
//   ramping  --stage's guards pass, minDuration and minUsers met--> next stage (or holding, onPass: hold)
//            ("pass" is the verdict's outcome, or with advanceWhen: no-regression open gates and no failure)
//   ramping  --last stage passes with its minimums met-----------> complete
//   any live --fail (or inconclusive with onInconclusive rollback)-> rolled-back (allocation 0, off)
//   ramping  --inconclusive (onInconclusive: hold)---------------> holding
//   paused   stays at its stage whatever the evidence, except that a failure still rolls back
//   a person: pause, resume, advance (next stage now), abort (allocation 0, off), start (stage 1 again)

import type { RolloutAction, RolloutStatus } from '../events/flag-command.js';
import type { SteerAction } from '../events/rollout-steer.js';
import type { Outcome } from '../events/verdict.js';
import type { Rollout } from '../rules/rollout-schema.js';

export type { SteerAction };
export type RampStatus = RolloutStatus;
export type RampAction = RolloutAction | 'rollback';

export interface RampState {
  /** Index into the rollout's stages. */
  stage: number;
  status: RampStatus;
  /** Event time (ms) the current stage began. */
  stageStartedAt: number;
  /** The cohort's exposed users when the stage began (minUsers counts from here). */
  usersAtStageStart: number;
  /** Why the ramp is in this status, for the status page and the audit. */
  reason: string;
}

/** What users are served after a transition, and why; the engine sends it as a command. */
export interface RampChange {
  action: RampAction;
  /** 1-based stage number the cohort is at afterwards (0 when rolled back or aborted). */
  stage: number;
  percent: number;
  state: 'on' | 'off';
  status: RampStatus;
  reason: string;
}

export interface RampEvidence {
  outcome: Outcome;
  /** Event time of the evaluation (ms). */
  at: number;
  /** The cohort's exposed users so far. */
  exposed: number;
  /** The verdict's reason line. */
  reason: string;
  /** Whether the gates (minCohortSize, evaluationWindowSeconds) are open at this evaluation. */
  gatesOpen: boolean;
}

export interface SteerRequest {
  action: SteerAction;
  at: number;
  exposed: number;
  actor: string;
  reason: string;
}

export interface RampStep {
  state: RampState;
  change?: RampChange;
  /** Why a steering request changed nothing (e.g. resume while not paused). */
  refused?: string;
}

const LIVE: ReadonlySet<RampStatus> = new Set(['ramping', 'holding', 'paused']);

export function isLive(status: RampStatus): boolean {
  return LIVE.has(status);
}

/** A ramp at its first stage, as registered when the rules are loaded. */
export function startRamp(plan: Rollout, at: number, exposed: number, reason = 'rollout started at stage 1'): RampState {
  void plan;
  return { stage: 0, status: 'ramping', stageStartedAt: at, usersAtStageStart: exposed, reason };
}

/** The allocation (percent) users are served at a state: 0 once rolled back or aborted. */
export function allocationOf(plan: Rollout, state: RampState): number {
  if (state.status === 'rolled-back' || state.status === 'aborted') return 0;
  return plan.stages[Math.min(state.stage, plan.stages.length - 1)].percent;
}

function change(plan: Rollout, state: RampState, action: RampAction): RampChange {
  const off = state.status === 'rolled-back' || state.status === 'aborted';
  return {
    action,
    stage: off ? 0 : state.stage + 1,
    percent: allocationOf(plan, state),
    state: off ? 'off' : 'on',
    status: state.status,
    reason: state.reason,
  };
}

function stageLabel(plan: Rollout, stage: number): string {
  return `stage ${stage + 1}/${plan.stages.length} (${plan.stages[stage].percent} %)`;
}

/** The minimums of the current stage still unmet at this evidence, or null when both are met. */
export function unmetMinimums(plan: Rollout, state: RampState, at: number, exposed: number): string | null {
  const s = plan.stages[state.stage];
  const missing: string[] = [];
  // The first evaluation can be at a watermark before the stage's first exposure.
  const elapsed = Math.max(0, (at - state.stageStartedAt) / 1000);
  if (elapsed < s.minDurationSeconds) missing.push(`${Math.floor(elapsed)} of ${s.minDurationSeconds} s in stage`);
  const users = exposed - state.usersAtStageStart;
  if (users < s.minUsers) missing.push(`${users} of ${s.minUsers} users in stage`);
  return missing.length > 0 ? missing.join(', ') : null;
}

function enterStage(plan: Rollout, state: RampState, stage: number, at: number, exposed: number, reason: string): RampState {
  return { stage, status: 'ramping', stageStartedAt: at, usersAtStageStart: exposed, reason: `${stageLabel(plan, stage)}: ${reason}` };
}

/** One evaluation of the cohort; a failure rolls back from any live status, even paused. */
export function onEvidence(plan: Rollout, state: RampState, ev: RampEvidence): RampStep {
  if (!isLive(state.status)) return { state };
  const rollback = ev.outcome === 'fail' || (ev.outcome === 'inconclusive' && plan.onInconclusive === 'rollback');
  if (rollback) {
    const next: RampState = { ...state, status: 'rolled-back', reason: `rolled back at ${stageLabel(plan, state.stage)}: ${ev.reason}` };
    return { state: next, change: change(plan, next, 'rollback') };
  }
  if (state.status !== 'ramping') return { state };
  if (ev.outcome === 'inconclusive') {
    const next: RampState = { ...state, status: 'holding', reason: `held at ${stageLabel(plan, state.stage)} for a person: ${ev.reason}` };
    return { state: next, change: change(plan, next, 'hold') };
  }
  const passed = ev.outcome === 'pass' || (plan.advanceWhen === 'no-regression' && ev.outcome === 'pending' && ev.gatesOpen);
  if (!passed || unmetMinimums(plan, state, ev.at, ev.exposed) !== null) return { state };
  const last = state.stage === plan.stages.length - 1;
  if (last) {
    const next: RampState = { ...state, status: 'complete', reason: `complete at ${stageLabel(plan, state.stage)}: ${ev.reason}` };
    return { state: next, change: change(plan, next, 'complete') };
  }
  if (plan.onPass === 'hold') {
    const next: RampState = { ...state, status: 'holding', reason: `${stageLabel(plan, state.stage)} passed; onPass: hold waits for a person to advance` };
    return { state: next, change: change(plan, next, 'hold') };
  }
  const next = enterStage(plan, state, state.stage + 1, ev.at, ev.exposed, `advanced after ${stageLabel(plan, state.stage)} passed`);
  return { state: next, change: change(plan, next, 'advance') };
}

/** A person's request; refused (with the reason) when it makes no sense in the current status. */
export function onSteer(plan: Rollout, state: RampState, req: SteerRequest): RampStep {
  const by = `by ${req.actor}${req.reason ? `: ${req.reason}` : ''}`;
  const refuse = (why: string): RampStep => ({ state, refused: `${req.action} refused: ${why}` });
  switch (req.action) {
    case 'pause': {
      if (state.status !== 'ramping' && state.status !== 'holding') return refuse(`the rollout is ${state.status}`);
      const next: RampState = { ...state, status: 'paused', reason: `paused at ${stageLabel(plan, state.stage)} ${by}` };
      return { state: next, change: change(plan, next, 'pause') };
    }
    case 'resume': {
      if (state.status !== 'paused' && state.status !== 'holding') return refuse(`the rollout is ${state.status}, not paused or holding`);
      const next: RampState = { ...state, status: 'ramping', reason: `resumed at ${stageLabel(plan, state.stage)} ${by}` };
      return { state: next, change: change(plan, next, 'resume') };
    }
    case 'advance': {
      if (!isLive(state.status)) return refuse(`the rollout is ${state.status}`);
      if (state.stage === plan.stages.length - 1) {
        const next: RampState = { ...state, status: 'complete', reason: `completed at ${stageLabel(plan, state.stage)} ${by}` };
        return { state: next, change: change(plan, next, 'complete') };
      }
      const next = enterStage(plan, state, state.stage + 1, req.at, req.exposed, `advanced ${by}`);
      // A paused ramp stays paused at its new stage: advancing is not resuming.
      if (state.status === 'paused') next.status = 'paused';
      return { state: next, change: change(plan, next, 'advance') };
    }
    case 'abort': {
      if (!isLive(state.status) && state.status !== 'complete') return refuse(`the rollout is already ${state.status}`);
      const next: RampState = { ...state, status: 'aborted', reason: `aborted at ${stageLabel(plan, state.stage)} ${by}` };
      return { state: next, change: change(plan, next, 'abort') };
    }
    case 'start': {
      if (isLive(state.status)) return refuse(`the rollout is already ${state.status}`);
      const next = enterStage(plan, state, 0, req.at, req.exposed, `started ${by}`);
      return { state: next, change: change(plan, next, 'start') };
    }
  }
}

/**
 * The exposure shares implied by the allocations in force: a guarded cohort with allocation a keeps
 * a of its assigned share, and the rest is served (and recorded as) the control.
 */
export function impliedShares(base: Record<string, number>, control: string, allocations: Record<string, number>): Record<string, number> {
  const total = Object.values(base).reduce((s, x) => s + x, 0);
  const shares: Record<string, number> = {};
  for (const [cohort, share] of Object.entries(base)) shares[cohort] = share / total;
  for (const [cohort, percent] of Object.entries(allocations)) {
    const assigned = shares[cohort];
    if (assigned === undefined) continue;
    shares[cohort] = (assigned * percent) / 100;
    shares[control] = (shares[control] ?? 0) + (assigned * (100 - percent)) / 100;
  }
  return shares;
}

/**
 * Adds the users first exposed since the last call at the shares then in force: cohorts are fixed
 * at first exposure, so the expected count of each cohort is the sum over time of new users times
 * the share of that moment. Returns the new running totals.
 */
export function accumulateExpected(expected: Record<string, number>, newUsers: number, shares: Record<string, number>): Record<string, number> {
  if (newUsers <= 0) return expected;
  const next = { ...expected };
  for (const [cohort, share] of Object.entries(shares)) next[cohort] = (next[cohort] ?? 0) + newUsers * share;
  return next;
}

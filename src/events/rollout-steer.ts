// A person's request to steer a rollout (start, pause, resume, advance, abort), carried on
// pmf.cohort-stats.v1 with the feature as key. It travels the same partition as the feature's
// statistics, so the verdict engine that owns the ramp applies it in log order: the ramp has one
// owner, a replay takes the same steps, and the engine's allocation (hence its SRM expectation)
// is always the one in force.

import { PmfError } from '../core/errors.js';

export const ROLLOUT_STEER_KIND = 'rollout-steer';
export const STEER_ACTIONS = ['start', 'pause', 'resume', 'advance', 'abort'] as const;
export type SteerAction = (typeof STEER_ACTIONS)[number];

export interface RolloutSteer {
  kind: typeof ROLLOUT_STEER_KIND;
  /** Idempotency key: a request id is applied at most once. */
  steerId: string;
  feature: string;
  cohort: string;
  action: SteerAction;
  actor: string;
  reason: string;
  /** Wall-clock time of the request (ISO 8601); the ramp uses event time, this is for the audit. */
  requestedAt: string;
}

/** Whether a parsed record of the cohort-stats topic is a steering request rather than statistics. */
export function isRolloutSteer(value: Record<string, unknown>): boolean {
  return value.kind === ROLLOUT_STEER_KIND;
}

export function checkRolloutSteer(o: Record<string, unknown>): RolloutSteer {
  for (const k of ['steerId', 'feature', 'cohort', 'actor', 'requestedAt']) {
    if (typeof o[k] !== 'string' || o[k] === '') throw new PmfError('ERR_EVENT_DECODE', `rollout steer: field "${k}" must be a non-empty string`);
  }
  if (typeof o.reason !== 'string') throw new PmfError('ERR_EVENT_DECODE', 'rollout steer: field "reason" must be a string');
  if (!STEER_ACTIONS.includes(o.action as SteerAction)) {
    throw new PmfError('ERR_EVENT_DECODE', `rollout steer: action must be one of ${STEER_ACTIONS.join(', ')}, got ${JSON.stringify(o.action)}`);
  }
  return o as unknown as RolloutSteer;
}

// Evaluates every guard of one cohort against its always-valid CS and keeps the running
// intersections. Each guard answers 'fail' (its CS lies in the bad region), 'pass' (in the good
// region), 'undecided' or 'no-data', with the bounds and the line a verdict shows. The evaluator
// takes only 'pass' from here (pass-evidence.ts): failing is decided by the e-detectors.

import type { RateCounts } from '../../events/cohort-stats.js';
import type { Rule } from '../../rules/schema.js';
import type { MergedCohortStats } from '../cohort-evaluator.js';
import { guardId, type Comparison, type GuardSpec, type MetricName } from './alpha-budget.js';
import { exceedanceCs, P95_EXCEEDANCE_SHARE } from './exceedance-cs.js';
import { rateDifferenceGuardCs } from './rate-difference-cs.js';
import { p95Cs, relativeP95Cs, relativeP95Decision } from './relative-p95.js';
import { robbinsInterval, thresholdPrior } from './robbins-cs.js';
import { displayed, intersect, type IntersectionState, type OpenInterval } from './running-intersection.js';
import { factor, level, milliseconds, percent, points } from './verdict-format.js';

/** Smallest rate drop worth detecting (3 pts): sets the Robbins prior's concentration. */
export const RATE_MIN_EFFECT = 0.03;

export type GuardState = 'fail' | 'pass' | 'undecided' | 'no-data';

export interface GuardOutcome {
  id: string;
  metric: MetricName;
  comparison: Comparison;
  state: GuardState;
  /**
   * Evidence for the reason line, e.g. "activation 9.8 % (always-valid 99 % upper bound 12.9 %) <
   * threshold 15 %"; a function because most evaluations only need the lines of a few guards.
   */
  evidence: () => string;
}

/** What a metric shows in the verdict: the threshold comparison's CS at α_g (running intersection). */
export interface MetricEvidence {
  n: number;
  estimate: number | null;
  lower: number | null;
  upper: number | null;
}

export interface CohortGuardInput {
  rule: Rule;
  cohort: MergedCohortStats;
  control?: MergedCohortStats;
  /** α_g by guard id. */
  alphaByGuard: Record<string, number>;
  guards: readonly GuardSpec[];
  intersections: IntersectionState;
}

export interface CohortGuardResult {
  guards: GuardOutcome[];
  evidence: Record<MetricName, MetricEvidence>;
}

const RATE_LABEL = { activation: 'activation', retention: 'retention' } as const;

function rateThreshold(
  id: string,
  metric: 'activation' | 'retention',
  counts: RateCounts,
  theta: number,
  alpha: number,
  intersections: IntersectionState,
): { outcome: GuardOutcome; evidence: MetricEvidence } {
  const label = RATE_LABEL[metric];
  if (counts.matured === 0) {
    return {
      outcome: { id, metric, comparison: 'threshold', state: 'no-data', evidence: () => `${label}: no matured users yet` },
      evidence: { n: 0, estimate: null, lower: null, upper: null },
    };
  }
  const estimate = counts.successes / counts.matured;
  const current = robbinsInterval(counts.successes, counts.matured, alpha, thresholdPrior(theta, RATE_MIN_EFFECT));
  const running = intersect(intersections, id, current);
  const shown = displayed(running, current);
  let state: GuardState = 'undecided';
  let evidence = () =>
    `${label} ${percent(estimate)} (always-valid ${level(alpha)} CS ${percent(shown.lower)} – ${percent(shown.upper)}) vs threshold ${percent(theta)}`;
  if (running.upper !== null && running.upper < theta) {
    state = 'fail';
    evidence = () => `${label} ${percent(estimate)} (always-valid ${level(alpha)} upper bound ${percent(running.upper)}) < threshold ${percent(theta)}`;
  } else if (running.lower !== null && running.lower >= theta) {
    state = 'pass';
    evidence = () => `${label} ${percent(estimate)} (always-valid ${level(alpha)} lower bound ${percent(running.lower)}) ≥ threshold ${percent(theta)}`;
  }
  return {
    outcome: { id, metric, comparison: 'threshold', state, evidence },
    evidence: { n: counts.matured, estimate, lower: shown.lower, upper: shown.upper },
  };
}

function rateVsControl(
  id: string,
  metric: 'activation' | 'retention',
  treatment: RateCounts,
  control: RateCounts | undefined,
  maxDrop: number,
  theta: number,
  alpha: number,
  intersections: IntersectionState,
): GuardOutcome {
  const label = RATE_LABEL[metric];
  if (!control || treatment.matured === 0 || control.matured === 0) {
    return { id, metric, comparison: 'vs-control', state: 'no-data', evidence: () => `${label} vs control: no matured users in both cohorts yet` };
  }
  const cs = rateDifferenceGuardCs(
    { successes: treatment.successes, n: treatment.matured },
    { successes: control.successes, n: control.matured },
    alpha,
    thresholdPrior(theta, RATE_MIN_EFFECT),
  );
  const running = intersect(intersections, id, cs);
  const pT = treatment.successes / treatment.matured;
  const pC = control.successes / control.matured;
  const head = () => `${label} ${percent(pT)} vs control ${percent(pC)}`;
  if (running.upper !== null && running.upper < -maxDrop) {
    return {
      id, metric, comparison: 'vs-control', state: 'fail',
      evidence: () => `${head()} (always-valid ${level(alpha)} upper bound on the difference ${points(running.upper)}) < allowed drop ${points(-maxDrop)}`,
    };
  }
  if (running.lower !== null && running.lower >= -maxDrop) {
    return {
      id, metric, comparison: 'vs-control', state: 'pass',
      evidence: () => `${head()} (always-valid ${level(alpha)} lower bound on the difference ${points(running.lower)}) ≥ allowed drop ${points(-maxDrop)}`,
    };
  }
  const shown = displayed(running, cs);
  return {
    id, metric, comparison: 'vs-control', state: 'undecided',
    evidence: () => `${head()} (difference CS ${points(shown.lower)} – ${points(shown.upper)}) vs allowed drop ${points(-maxDrop)}`,
  };
}

function latencyThreshold(
  cohort: MergedCohortStats,
  threshold: number,
  alpha: number,
  intersections: IntersectionState,
): { outcome: GuardOutcome; evidence: MetricEvidence } {
  const id = 'latencyP95';
  const l = cohort.latency;
  if (l.count === 0) {
    return {
      outcome: { id, metric: 'latencyP95', comparison: 'threshold', state: 'no-data', evidence: () => 'latency: no requests yet' },
      evidence: { n: 0, estimate: null, lower: null, upper: null },
    };
  }
  // The decision is on the exceedance share (cluster-robust); the ms bounds explain it.
  const share = exceedanceCs(l, alpha);
  const shareRunning = intersect(intersections, id, share);
  const msCurrent = p95Cs(l, alpha);
  const msShown = displayed(intersect(intersections, `${id}-ms`, msCurrent), msCurrent);
  const head = () => `latency P95 ${milliseconds(l.p95)}`;
  const slower = () => `${percent(share.estimate)} of requests slower than ${milliseconds(threshold)}`;
  let state: GuardState = 'undecided';
  let evidence = () => `${head()} (always-valid ${level(alpha)} CS ${milliseconds(msShown.lower)} – ${milliseconds(msShown.upper)}) vs threshold ${milliseconds(threshold)}; ${slower()}`;
  if (shareRunning.lower !== null && shareRunning.lower > P95_EXCEEDANCE_SHARE) {
    state = 'fail';
    const share = `${slower()} (lower bound ${percent(shareRunning.lower)} > ${percent(P95_EXCEEDANCE_SHARE)})`;
    // The share decides; the order-statistic bounds only explain. They are separate CSs, so in a
    // rare borderline case the ms bound can sit on the other side: then say so plainly.
    evidence =
      msShown.lower !== null && msShown.lower > threshold
        ? () => `${head()} (always-valid ${level(alpha)} lower bound ${milliseconds(msShown.lower)}) > threshold ${milliseconds(threshold)}; ${share}`
        : () => `${head()} > threshold ${milliseconds(threshold)} (always-valid ${level(alpha)} CS ${milliseconds(msShown.lower)} – ${milliseconds(msShown.upper)}); ${share}`;
  } else if (shareRunning.upper !== null && shareRunning.upper <= P95_EXCEEDANCE_SHARE) {
    state = 'pass';
    const share = `${slower()} (upper bound ${percent(shareRunning.upper)} ≤ ${percent(P95_EXCEEDANCE_SHARE)})`;
    evidence =
      msShown.upper !== null && msShown.upper <= threshold
        ? () => `${head()} (always-valid ${level(alpha)} upper bound ${milliseconds(msShown.upper)}) ≤ threshold ${milliseconds(threshold)}; ${share}`
        : () => `${head()} ≤ threshold ${milliseconds(threshold)} (always-valid ${level(alpha)} CS ${milliseconds(msShown.lower)} – ${milliseconds(msShown.upper)}); ${share}`;
  }
  return {
    outcome: { id, metric: 'latencyP95', comparison: 'threshold', state, evidence },
    evidence: { n: l.count, estimate: l.p95, lower: msShown.lower, upper: msShown.upper },
  };
}

function latencyVsControl(
  cohort: MergedCohortStats,
  control: MergedCohortStats | undefined,
  maxIncrease: number,
  alpha: number,
  intersections: IntersectionState,
): GuardOutcome {
  const id = 'latencyP95-vs-control';
  if (!control || cohort.latency.count === 0 || control.latency.count === 0) {
    return { id, metric: 'latencyP95', comparison: 'vs-control', state: 'no-data', evidence: () => 'latency vs control: no requests in both cohorts yet' };
  }
  const cs = relativeP95Cs(cohort.latency, control.latency, alpha);
  const t: OpenInterval = intersect(intersections, `${id}:treatment`, cs.treatment);
  const c: OpenInterval = intersect(intersections, `${id}:control`, cs.control);
  const decision = relativeP95Decision(t, c, maxIncrease);
  const head = () => `latency P95 ${milliseconds(cohort.latency.p95)} vs control ${milliseconds(control.latency.p95)}`;
  const times = `${factor(1 + maxIncrease)} ×`;
  const at = `always-valid ${level(alpha / 2)} per cohort`;
  if (decision === 'fail') {
    return {
      id, metric: 'latencyP95', comparison: 'vs-control', state: 'fail',
      evidence: () => `${head()} (${at}: lower bound ${milliseconds(t.lower)} > ${times} control upper bound ${milliseconds(c.upper)})`,
    };
  }
  if (decision === 'pass') {
    return {
      id, metric: 'latencyP95', comparison: 'vs-control', state: 'pass',
      evidence: () => `${head()} (${at}: upper bound ${milliseconds(t.upper)} ≤ ${times} control lower bound ${milliseconds(c.lower)})`,
    };
  }
  return {
    id, metric: 'latencyP95', comparison: 'vs-control', state: 'undecided',
    evidence: () => `${head()} (${at}: ${milliseconds(t.lower)} – ${milliseconds(t.upper)} vs control ${milliseconds(c.lower)} – ${milliseconds(c.upper)}, tolerated ${times})`,
  };
}

const NO_EVIDENCE: MetricEvidence = { n: 0, estimate: null, lower: null, upper: null };

export function evaluateCohortGuards(input: CohortGuardInput): CohortGuardResult {
  const { rule, cohort, control, alphaByGuard, intersections } = input;
  const guards: GuardOutcome[] = [];
  const evidence: Record<MetricName, MetricEvidence> = {
    activation: NO_EVIDENCE,
    retention: NO_EVIDENCE,
    latencyP95: NO_EVIDENCE,
  };
  for (const spec of input.guards) {
    const id = guardId(spec);
    const alpha = alphaByGuard[id];
    if (spec.metric === 'latencyP95') {
      if (spec.comparison === 'threshold') {
        const r = latencyThreshold(cohort, rule.latencyP95Threshold, alpha, intersections);
        guards.push(r.outcome);
        evidence.latencyP95 = r.evidence;
      } else {
        guards.push(latencyVsControl(cohort, control, rule.guardrails.maxP95Increase ?? 0, alpha, intersections));
      }
      continue;
    }
    const metric = spec.metric;
    const theta = metric === 'activation' ? rule.activationThreshold : rule.retentionThreshold;
    if (spec.comparison === 'threshold') {
      const r = rateThreshold(id, metric, cohort[metric], theta, alpha, intersections);
      guards.push(r.outcome);
      evidence[metric] = r.evidence;
    } else {
      const maxDrop = (metric === 'activation' ? rule.guardrails.maxActivationDrop : rule.guardrails.maxRetentionDrop) ?? 0;
      guards.push(rateVsControl(id, metric, cohort[metric], control?.[metric], maxDrop, theta, alpha, intersections));
    }
  }
  return { guards, evidence };
}

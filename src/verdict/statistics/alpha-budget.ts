// The false-rollback budget of one rule (statistics.md §4, §6(d)). Each confidence sequence is
// time-uniform, so looks are free; what remains is the family of guards G = metrics × guarded
// cohorts × comparisons. A rollback fires on any guard's failure, so the family-wise error needs
// Σ α_g + α_srm ≤ α: Bonferroni with equal weights (Holm's first step is Bonferroni, and we act
// on the first failure, so Holm gains nothing).

import type { Rule } from '../../rules/schema.js';
import { SRM_ALPHA } from './srm.js';

export type MetricName = 'activation' | 'retention' | 'latencyP95';
export type Comparison = 'threshold' | 'vs-control';

export interface GuardSpec {
  metric: MetricName;
  comparison: Comparison;
}

/** Activation needs an action to recognise; retention and latency are measured for every rule. */
export function metricConfigured(rule: Rule, metric: MetricName): boolean {
  return metric !== 'activation' || rule.activation.action !== undefined;
}

function relativeConfigured(rule: Rule, metric: MetricName): boolean {
  if (rule.cohorts.control === undefined) return false;
  const g = rule.guardrails;
  if (metric === 'activation') return g.maxActivationDrop !== undefined;
  if (metric === 'retention') return g.maxRetentionDrop !== undefined;
  return g.maxP95Increase !== undefined;
}

/** The guards of one guarded cohort, in a fixed order. */
export function guardsOf(rule: Rule): GuardSpec[] {
  const guards: GuardSpec[] = [];
  for (const metric of ['activation', 'retention', 'latencyP95'] as const) {
    if (!metricConfigured(rule, metric)) continue;
    guards.push({ metric, comparison: 'threshold' });
    if (relativeConfigured(rule, metric)) guards.push({ metric, comparison: 'vs-control' });
  }
  return guards;
}

export interface AlphaBudget {
  alpha: number;
  alphaSrm: number;
  guardsPerCohort: number;
  guardedCohorts: number;
  /** α_g of every guard. */
  perGuard: number;
}

/**
 * guardedCohorts: rule.cohorts.guarded.length when declared; otherwise the caller's count of
 * cohorts seen (a statistically weaker default: pre-register `cohorts.guarded` for a strict bound).
 */
export function alphaBudget(rule: Rule, guardedCohorts: number, alphaSrm = SRM_ALPHA): AlphaBudget {
  const guardsPerCohort = guardsOf(rule).length;
  const cohorts = Math.max(1, guardedCohorts);
  const spendable = Math.max(rule.alpha - alphaSrm, rule.alpha / 2);
  return {
    alpha: rule.alpha,
    alphaSrm: Math.min(alphaSrm, rule.alpha / 2),
    guardsPerCohort,
    guardedCohorts: cohorts,
    perGuard: guardsPerCohort === 0 ? spendable : spendable / (guardsPerCohort * cohorts),
  };
}

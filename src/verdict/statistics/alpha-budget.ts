// The false-rollback budget of one rule (docs/statistics.md). Each guard's e-detector is
// time-uniform, so looks are free; what remains is the family of guards G = metrics × guarded
// cohorts × comparisons. A rollback fires on any guard's alarm, so the family-wise error needs
// Σ α_g + α_srm ≤ α (a union bound; Holm gains nothing because we act on the first alarm). The
// split is weighted, not equal: a guard's detection delay grows with ln(1/α_g) divided by the
// evidence it gathers per hour, so α goes where that evidence is slow and the hours are many
// (the rate guards, which wait for users to mature), and little where a few hundred requests an
// hour make ln(1/α_g) cost minutes (latency). Weights are fixed per guard kind before any data.

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

/**
 * Relative α weight of each guard kind (normalised over the rule's configured guards). Fitted in
 * the simulation at the reference effects (docs/statistics.md, "How α is split").
 */
export const GUARD_WEIGHTS: Record<MetricName, Record<Comparison, number>> = {
  activation: { threshold: 1, 'vs-control': 2 },
  retention: { threshold: 1, 'vs-control': 2 },
  latencyP95: { threshold: 1, 'vs-control': 1 },
};

export function guardId(spec: GuardSpec): string {
  return spec.comparison === 'threshold' ? spec.metric : `${spec.metric}-vs-control`;
}

export interface AlphaBudget {
  alpha: number;
  alphaSrm: number;
  guardsPerCohort: number;
  guardedCohorts: number;
  /** α_g of each guard id of one guarded cohort (same for every guarded cohort). */
  byGuard: Record<string, number>;
}

/**
 * guardedCohorts: rule.cohorts.guarded.length when declared; otherwise the caller's count of
 * cohorts seen (a statistically weaker default: pre-register `cohorts.guarded` for a strict bound).
 */
export function alphaBudget(rule: Rule, guardedCohorts: number, alphaSrm = SRM_ALPHA): AlphaBudget {
  // Parsed rules are never mutated, so the split is cached per rule object.
  let byCohorts = budgets.get(rule);
  if (!byCohorts) budgets.set(rule, (byCohorts = new Map()));
  const key = `${guardedCohorts}:${alphaSrm}`;
  let budget = byCohorts.get(key);
  if (!budget) byCohorts.set(key, (budget = computeBudget(rule, guardedCohorts, alphaSrm)));
  return budget;
}

const budgets = new WeakMap<Rule, Map<string, AlphaBudget>>();

function computeBudget(rule: Rule, guardedCohorts: number, alphaSrm: number): AlphaBudget {
  const specs = guardsOf(rule);
  const cohorts = Math.max(1, guardedCohorts);
  const spendable = Math.max(rule.alpha - alphaSrm, rule.alpha / 2);
  const total = specs.reduce((s, g) => s + GUARD_WEIGHTS[g.metric][g.comparison], 0);
  const byGuard = Object.fromEntries(
    specs.map((g) => [guardId(g), (spendable * GUARD_WEIGHTS[g.metric][g.comparison]) / (total * cohorts)]),
  );
  return { alpha: rule.alpha, alphaSrm: Math.min(alphaSrm, rule.alpha / 2), guardsPerCohort: specs.length, guardedCohorts: cohorts, byGuard };
}

// The one interface between merged cohort statistics and a verdict. The point-estimate evaluator
// (point-estimate-evaluator.ts) and the always-valid sequential evaluator both implement it, so the
// verdict consumer does not know which statistics decide.

import type { LatencyStats, RateCounts } from '../events/cohort-stats.js';
import type { MetricVerdict, Outcome, RegressionEstimate, SrmVerdict } from '../events/verdict.js';
import type { Rule } from '../rules/schema.js';

/** One cohort's statistics merged over every source partition. */
export interface MergedCohortStats {
  cohort: string;
  exposed: number;
  firstExposureAt: number;
  activation: RateCounts;
  retention: RateCounts;
  /** histogram decoded by the caller is not needed by the evaluator: counts are enough for the tests. */
  latency: Omit<LatencyStats, 'histogram'> & {
    /** Nearest-rank P95 reported as HDR highestEquivalentValue, null when no requests. */
    p95: number | null;
    /** valueAtPercentile for the order-statistic explanation; null when no requests. */
    valueAtPercentile: (p: number) => number | null;
    /**
     * Requests in histogram buckets entirely above `value` (exact when value is a bucket top, as
     * every P95 the histogram reports is; otherwise a lower bound).
     */
    countAbove: (value: number) => number;
  };
  cohortSwitches: number;
}

export interface EvaluationInput {
  rule: Rule;
  ruleVersion: string;
  cohort: MergedCohortStats;
  /** The rule's control cohort, when it has one and it has data. */
  control?: MergedCohortStats;
  /** Exposed users of every cohort of the feature (for the SRM guard). */
  exposures: Record<string, number>;
  /**
   * Shares the SRM guard must expect instead of the rule's, set while a rollout moves allocations:
   * users are fixed to the cohort of their first exposure, so these are the shares in force when
   * each user arrived, weighted by users. Cohorts absent here are left out of the check.
   */
  expectedShares?: Record<string, number>;
  /** Event time the evaluation is at (merged watermark, ms). */
  at: number;
  /** Carried between evaluations of the same (feature, cohort): sticky verdicts, running intersections.
   * Never changed in place: the result carries the next memory (the engine keeps the old one to undo a failed step). */
  memory: EvaluatorMemory;
}

/** Opaque per-(feature, cohort) state an evaluator keeps between evaluations; JSON-serialisable. */
export type EvaluatorMemory = Record<string, unknown>;

export interface EvaluationResult {
  outcome: Outcome;
  metrics: { activation: MetricVerdict; retention: MetricVerdict; latencyP95: MetricVerdict };
  srm: SrmVerdict;
  reason: string;
  /** Failed guards with their detector and estimated onset (sequential evaluator only). */
  regressions?: RegressionEstimate[];
  memory: EvaluatorMemory;
}

export interface CohortEvaluator {
  readonly name: string;
  evaluate(input: EvaluationInput): EvaluationResult;
}

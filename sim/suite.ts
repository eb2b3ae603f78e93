// The simulation suite of reference/statistics.md §6(e), driving the real SequentialEvaluator:
// false rollbacks with every guard on its null boundary (per guard and for the family), the naive
// point-estimate rule in the same harness, power and detection delay for the three injected
// regressions, and the SRM guard. Returns the figures as one plain object.

import { PointEstimateEvaluator } from '../src/verdict/point-estimate-evaluator.js';
import { alphaBudget, guardsOf } from '../src/verdict/statistics/alpha-budget.js';
import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { SRM_ALPHA } from '../src/verdict/statistics/srm.js';
import { activationDrop, exposureLoss, latencySpike, latencySpikeAfter48h, nullBoundary, retentionDrop } from './scenarios.js';
import { delays, falseRateBound, rateOf, simulate, type DelaySummary } from './simulate.js';

export interface SuiteOptions {
  seed: number;
  /** Runs of the null-boundary scenario (the false-rollback estimates). */
  nullRuns: number;
  /** Runs of each effect scenario and of the naive rule. */
  effectRuns: number;
}

export interface GuardRate {
  rate: number;
  alpha: number;
  bound: number;
}

export interface SuiteResult {
  seed: number;
  nullRuns: number;
  effectRuns: number;
  ticks: string;
  alphaPerGuard: number;
  falseRollback: {
    family: GuardRate;
    perGuard: Record<string, GuardRate>;
    naiveFamily: number;
    srmFalseAlarm: GuardRate;
  };
  detection: {
    activationMinus5pt: DelaySummary;
    retentionMinus3pt: DelaySummary;
    latencyPlus450ms: DelaySummary;
    latencyPlus450msThresholdGuard: DelaySummary;
    latencyPlus450msVsControlGuard: DelaySummary;
    /** Delay counted from the onset at hour 48. */
    latencyPlus450msFromHour48: DelaySummary;
    srmTreatmentExposuresMinus5pct: DelaySummary & { suppressed: number };
  };
}

const sequential = () => new SequentialEvaluator();

function guardLabel(id: string): string {
  return id;
}

export function runSuite(options: SuiteOptions): SuiteResult {
  const { seed, nullRuns, effectRuns } = options;
  const rule = nullBoundary.rule;
  const budget = alphaBudget(rule, rule.cohorts.guarded?.length ?? 1);
  const guardIds = guardsOf(rule).map((g) => (g.comparison === 'threshold' ? g.metric : `${g.metric}-vs-control`));

  const aa = simulate(nullBoundary, { runs: nullRuns, seed, evaluator: sequential });
  const perGuard: Record<string, GuardRate> = {};
  for (const id of guardIds) {
    perGuard[guardLabel(id)] = {
      rate: rateOf(aa, (r) => r.guardFail[id] !== undefined),
      alpha: budget.perGuard,
      bound: falseRateBound(budget.perGuard, nullRuns),
    };
  }
  const family: GuardRate = { rate: rateOf(aa, (r) => r.fail !== null), alpha: rule.alpha, bound: falseRateBound(rule.alpha, nullRuns) };
  const srmFalseAlarm: GuardRate = { rate: rateOf(aa, (r) => r.srm !== null), alpha: SRM_ALPHA, bound: falseRateBound(SRM_ALPHA, nullRuns) };

  const naive = simulate(nullBoundary, {
    runs: effectRuns,
    seed: seed + 1,
    evaluator: () => new PointEstimateEvaluator(),
    stopWhen: (r) => r.fail !== null,
  });

  const activation = simulate(activationDrop, {
    runs: effectRuns, seed: seed + 2, evaluator: sequential, stopWhen: (r) => r.metricFail.activation !== undefined,
  });
  const retention = simulate(retentionDrop, {
    runs: effectRuns, seed: seed + 3, evaluator: sequential, stopWhen: (r) => r.metricFail.retention !== undefined,
  });
  const latency = simulate(latencySpike, {
    runs: effectRuns,
    seed: seed + 4,
    evaluator: sequential,
    stopWhen: (r) => r.guardFail.latencyP95 !== undefined && r.guardFail['latencyP95-vs-control'] !== undefined,
  });
  const onsetTick = latencySpikeAfter48h.onset?.tick ?? 0;
  const lateLatency = simulate(latencySpikeAfter48h, {
    runs: effectRuns, seed: seed + 6, evaluator: sequential, stopWhen: (r) => r.metricFail.latencyP95 !== undefined,
  });
  const srm = simulate(exposureLoss, { runs: effectRuns, seed: seed + 5, evaluator: sequential, stopWhen: (r) => r.invalid !== null || r.fail !== null });

  const ticks = `${nullBoundary.shape.ticks} hourly`;
  return {
    seed,
    nullRuns,
    effectRuns,
    ticks,
    alphaPerGuard: budget.perGuard,
    falseRollback: { family, perGuard, naiveFamily: rateOf(naive, (r) => r.fail !== null), srmFalseAlarm },
    detection: {
      activationMinus5pt: delays(activation, (r) => r.metricFail.activation),
      retentionMinus3pt: delays(retention, (r) => r.metricFail.retention),
      latencyPlus450ms: delays(latency, (r) => r.metricFail.latencyP95),
      latencyPlus450msThresholdGuard: delays(latency, (r) => r.guardFail.latencyP95),
      latencyPlus450msVsControlGuard: delays(latency, (r) => r.guardFail['latencyP95-vs-control']),
      latencyPlus450msFromHour48: delays(lateLatency, (r) =>
        r.metricFail.latencyP95 === undefined ? undefined : r.metricFail.latencyP95 - onsetTick),
      srmTreatmentExposuresMinus5pct: { ...delays(srm, (r) => r.srm), suppressed: rateOf(srm, (r) => r.invalid !== null) },
    },
  };
}

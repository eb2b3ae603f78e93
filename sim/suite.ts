// The simulation suite, driving the real SequentialEvaluator: the family false-rollback rate in
// every null (plain A/A on the null boundary, diurnal traffic, heavy users, a harmless shift of
// both arms, an allocation ramp, out-of-order arrival), the naive point-estimate rule in the same
// harness, power curves (detection delay median and p90 for each effect, onset at the first
// exposure and at hour 48) beside the oracle, the SRM guard, and CPU per evaluation against an
// in-run baseline. Returns the figures as one plain object.

import { PointEstimateEvaluator } from '../src/verdict/point-estimate-evaluator.js';
import { alphaBudget, guardId, guardsOf } from '../src/verdict/statistics/alpha-budget.js';
import { evaluateCohortGuards } from '../src/verdict/statistics/cohort-guards.js';
import { checkSrm, SRM_ALPHA } from '../src/verdict/statistics/srm.js';
import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import type { CohortEvaluator, EvaluationInput, EvaluationResult } from '../src/verdict/cohort-evaluator.js';
import { oracleDelay, type OracleDelay } from './oracle.js';
import { EFFECTS, effectScenario, exposureLoss, nullBoundary, nullScenarios, ONSETS } from './scenarios.js';
import { delays, rateOf, simulate, wilson, type DelaySummary } from './simulate.js';

export interface SuiteOptions {
  seed: number;
  /** Runs of the plain null (the per-guard estimates); every realistic null gets half as many. */
  nullRuns: number;
  /** Runs of each effect scenario and of the naive rule. */
  effectRuns: number;
  /** Only these power curves (effect keys); default all. */
  effects?: string[];
}

export interface NullResult {
  name: string;
  runs: number;
  /** Share of runs with any rollback (outcome fail), and its Wilson 95 % interval's upper end. */
  family: number;
  upper95: number;
  /** Share of runs where any comparison-with-control detector crossed its level, counted or not. */
  vsControlAlarms: number;
  srm: number;
}

export interface CurvePoint extends DelaySummary {
  oracle: OracleDelay;
  /** Runs that failed on this metric before the onset (false early alarms). */
  beforeOnset: number;
}

export interface SuiteResult {
  seed: number;
  nullRuns: number;
  effectRuns: number;
  ticks: string;
  alpha: number;
  alphaByGuard: Record<string, number>;
  nulls: NullResult[];
  perGuard: Record<string, { rate: number; alpha: number; upper95: number }>;
  naiveFamily: number;
  srmFalseAlarm: { rate: number; alpha: number; upper95: number };
  /** effect key → onset (0 = at exposure, 48) → delays. */
  curves: Record<string, Record<string, CurvePoint & { label: string }>>;
  srmExposuresMinus5pct: DelaySummary & { invalid: number };
  cpu: { evaluatorMicros: number; baselineMicros: number; ratio: number; evaluations: number };
}

const sequential = () => new SequentialEvaluator();

/**
 * The in-run CPU baseline: the confidence sequences and the SRM test every evaluation computed
 * before the e-detectors existed (they still decide 'pass' and give the verdict's bounds).
 */
class ConfidenceSequenceCore implements CohortEvaluator {
  readonly name = 'cs-core';
  private srmP: number | null = null;
  private intersections = {};
  evaluate(input: EvaluationInput): EvaluationResult {
    const { rule } = input;
    const budget = alphaBudget(rule, 1);
    const srm = checkSrm([input.exposures.control, input.exposures.treatment], [1, 1], this.srmP, { alpha: budget.alphaSrm });
    this.srmP = srm.pValue;
    const r = evaluateCohortGuards({
      rule, cohort: input.cohort, control: input.control, alphaByGuard: budget.byGuard, guards: guardsOf(rule), intersections: this.intersections,
    });
    const m = (k: 'activation' | 'retention' | 'latencyP95') => ({ ...r.evidence[k], threshold: 0, status: 'pending' as const });
    return {
      outcome: 'pending',
      metrics: { activation: m('activation'), retention: m('retention'), latencyP95: m('latencyP95') },
      srm: { status: 'ok', pValue: srm.pValue, counts: {} },
      reason: r.guards.map((g) => g.state).join(','),
      memory: {},
    };
  }
}

export function runSuite(options: SuiteOptions): SuiteResult {
  const { seed, nullRuns, effectRuns } = options;
  const rule = nullBoundary.rule;
  const budget = alphaBudget(rule, rule.cohorts.guarded?.length ?? 1);
  const ids = guardsOf(rule).map(guardId);

  const timing = { ms: 0, evaluations: 0 };
  const nulls: NullResult[] = [];
  let perGuard: SuiteResult['perGuard'] = {};
  let srmFalseAlarm = { rate: 0, alpha: SRM_ALPHA, upper95: 0 };
  nullScenarios.forEach((scenario, i) => {
    const runs = i === 0 ? nullRuns : Math.ceil(nullRuns / 2);
    const records = simulate(scenario, { runs, seed: seed + 100 * i, evaluator: sequential, timing: i === 0 ? timing : undefined });
    const fails = records.filter((r) => r.fail !== null).length;
    nulls.push({
      name: scenario.name,
      runs,
      family: fails / runs,
      upper95: wilson(fails, runs).upper,
      vsControlAlarms: rateOf(records, (r) => Object.keys(r.alarms).some((g) => g.endsWith('-vs-control'))),
      srm: rateOf(records, (r) => r.srm !== null),
    });
    if (i === 0) {
      perGuard = Object.fromEntries(ids.map((id) => {
        const k = records.filter((r) => r.guardFail[id] !== undefined).length;
        return [id, { rate: k / nullRuns, alpha: budget.byGuard[id], upper95: wilson(k, nullRuns).upper }];
      }));
      const k = records.filter((r) => r.srm !== null).length;
      srmFalseAlarm = { rate: k / nullRuns, alpha: SRM_ALPHA, upper95: wilson(k, nullRuns).upper };
    }
  });

  const baselineTiming = { ms: 0, evaluations: 0 };
  simulate(nullBoundary, { runs: Math.min(nullRuns, 200), seed, evaluator: () => new ConfidenceSequenceCore(), timing: baselineTiming });

  const naive = simulate(nullBoundary, {
    runs: effectRuns, seed: seed + 1, evaluator: () => new PointEstimateEvaluator(), stopWhen: (r) => r.fail !== null,
  });

  const curves: SuiteResult['curves'] = {};
  EFFECTS.forEach((effect, e) => {
    if (options.effects && !options.effects.includes(effect.key)) return;
    curves[effect.key] = {};
    for (const onset of ONSETS) {
      const scenario = effectScenario(effect, onset);
      const records = simulate(scenario, {
        runs: effectRuns, seed: seed + 1000 + 10 * e + onset, evaluator: sequential, stopWhen: (r) => r.metricFail[effect.metric] !== undefined,
      });
      const at = (r: (typeof records)[number]) => {
        const tick = r.metricFail[effect.metric];
        return tick === undefined || tick < onset ? undefined : tick - onset;
      };
      curves[effect.key][onset === 0 ? 'exposure' : `h${onset}`] = {
        label: scenario.name,
        ...delays(records, at),
        beforeOnset: rateOf(records, (r) => (r.metricFail[effect.metric] ?? Infinity) < onset),
        oracle: oracleDelay(scenario, effect, onset, budget),
      };
    }
  });

  const srm = simulate(exposureLoss, { runs: effectRuns, seed: seed + 5, evaluator: sequential, stopWhen: (r) => r.srm !== null });
  const micros = (t: { ms: number; evaluations: number }) => (1000 * t.ms) / Math.max(t.evaluations, 1);
  return {
    seed,
    nullRuns,
    effectRuns,
    ticks: `${nullBoundary.shape.ticks} hourly`,
    alpha: rule.alpha,
    alphaByGuard: budget.byGuard,
    nulls,
    perGuard,
    naiveFamily: rateOf(naive, (r) => r.fail !== null),
    srmFalseAlarm,
    curves,
    srmExposuresMinus5pct: { ...delays(srm, (r) => r.srm), invalid: rateOf(srm, (r) => r.invalid !== null) },
    cpu: {
      evaluatorMicros: micros(timing),
      baselineMicros: micros(baselineTiming),
      ratio: micros(timing) / micros(baselineTiming),
      evaluations: timing.evaluations,
    },
  };
}

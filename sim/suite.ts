// The simulation suite, driving the real SequentialEvaluator: the family false-rollback rate in
// every null (plain A/A on the null boundary, diurnal traffic, heavy users, a harmless shift of
// both arms, an allocation ramp, out-of-order arrival), the naive point-estimate rule in the same
// harness, power curves (detection delay median and p90 for each effect, onset at the first
// exposure and at hour 48) beside the oracle, the SRM guard, and CPU per evaluation against the
// previous evaluator (cumulative confidence sequences) run in the same process, which also gives
// "before" values for the headline curves. Returns the figures as one plain object.

import { PointEstimateEvaluator } from '../src/verdict/point-estimate-evaluator.js';
import { alphaBudget, guardId, guardsOf } from '../src/verdict/statistics/alpha-budget.js';
import { SRM_ALPHA } from '../src/verdict/statistics/srm.js';
import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { CumulativeEvaluator } from './cumulative-evaluator.js';
import { oracleDelay, type OracleDelay } from './oracle.js';
import { ARRIVAL_ORDERS, EFFECTS, effectScenario, exposureLoss, nullBoundary, nullScenarios, ONSETS, type ArrivalOrder, type Scenario } from './scenarios.js';
import { Random } from './random.js';
import { delays, rateOf, scenarioModels, simulate, simulateRun, wilson, type DelaySummary } from './simulate.js';

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
  arrival: ArrivalOrder;
  runs: number;
  /** Share of runs with any rollback (outcome fail), and its Wilson 95 % interval's upper end. */
  family: number;
  upper95: number;
  /** Share of runs where any comparison-with-control detector crossed its level, counted or not. */
  vsControlAlarms: number;
  /** Share of runs where any guard's detector crossed its level, counted or not (gates, SRM). */
  anyAlarms: number;
  srm: number;
  /** Share of runs where the product-limit test of the activation guardrail failed the guard. */
  productLimitFails: number;
}

export interface CurvePoint extends DelaySummary {
  oracle: OracleDelay;
  /** Runs that failed on this metric before the onset (false early alarms). */
  beforeOnset: number;
  /** The previous evaluator (cumulative confidence sequences) on the same runs, for headline curves. */
  previous?: DelaySummary;
  /** Activation curves: the same runs with the early counts left out (matured users only). */
  maturedOnly?: DelaySummary;
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

/** The same runs with the early counts left out of the stats: the guardrail on matured users alone. */
function withoutEarly(scenario: Scenario): Scenario {
  return { ...scenario, shape: { ...scenario.shape, hideEarly: true } };
}

/** Curves also run through the previous evaluator, for the before/after of the targets. */
const HEADLINE = new Set(['latencyPlus450ms@0', 'latencyPlus450ms@48', 'activationMinus5pt@0']);

/**
 * CPU per evaluation of the evaluator and of the previous one, on the same runs of the plain null,
 * alternating run by run (and which goes first) so a busy machine weighs on both alike.
 */
function timeEvaluators(runs: number, seed: number) {
  const models = scenarioModels(nullBoundary);
  const baselineTiming = { ms: 0, evaluations: 0 };
  const newTiming = { ms: 0, evaluations: 0 };
  for (let i = 0; i < runs; i++) {
    const pair = [
      () => simulateRun(nullBoundary, new CumulativeEvaluator(), new Random((seed * 1_000_003 + i) >>> 0), models, undefined, baselineTiming),
      () => simulateRun(nullBoundary, new SequentialEvaluator(), new Random((seed * 1_000_003 + i) >>> 0), models, undefined, newTiming),
    ];
    if (i % 2 === 1) pair.reverse();
    for (const run of pair) run();
  }
  return { baselineTiming, newTiming };
}

export function runSuite(options: SuiteOptions): SuiteResult {
  const { seed, nullRuns, effectRuns } = options;
  const rule = nullBoundary.rule;
  const budget = alphaBudget(rule, rule.cohorts.guarded?.length ?? 1);
  const ids = guardsOf(rule).map(guardId);

  const nulls: NullResult[] = [];
  let perGuard: SuiteResult['perGuard'] = {};
  let srmFalseAlarm = { rate: 0, alpha: SRM_ALPHA, upper95: 0 };
  // Every null in order; the ones delivered on time also shuffled and cohort-sorted (a quarter of
  // the runs each: the question is whether the order moves the rate, not its third decimal).
  const runsOf: { scenario: Scenario; runs: number; seed: number; index: number }[] = [];
  nullScenarios.forEach((scenario, i) => {
    runsOf.push({ scenario, runs: i === 0 ? nullRuns : Math.ceil(nullRuns / 2), seed: seed + 100 * i, index: i });
  });
  ARRIVAL_ORDERS.slice(1).forEach((arrival, o) => {
    nullScenarios.forEach((scenario, i) => {
      if (scenario.lateDelivery) return;
      runsOf.push({ scenario: { ...scenario, arrival }, runs: Math.ceil(nullRuns / 4), seed: seed + 100 * i + 10_000 * (o + 1), index: -1 });
    });
  });
  runsOf.forEach(({ scenario, runs, seed: runSeed, index: i }) => {
    const records = simulate(scenario, { runs, seed: runSeed, evaluator: sequential });
    const fails = records.filter((r) => r.fail !== null).length;
    nulls.push({
      name: scenario.name,
      arrival: scenario.arrival ?? 'in order',
      runs,
      family: fails / runs,
      upper95: wilson(fails, runs).upper,
      vsControlAlarms: rateOf(records, (r) => Object.keys(r.alarms).some((g) => g.endsWith('-vs-control'))),
      anyAlarms: rateOf(records, (r) => Object.keys(r.alarms).length > 0),
      srm: rateOf(records, (r) => r.srm !== null),
      productLimitFails: rateOf(records, (r) => r.productLimitFail === true),
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

  const { baselineTiming, newTiming } = timeEvaluators(Math.min(nullRuns, 200), seed);

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
      const before = HEADLINE.has(`${effect.key}@${onset}`)
        ? delays(simulate(scenario, {
          runs: effectRuns, seed: seed + 1000 + 10 * e + onset, evaluator: () => new CumulativeEvaluator(), stopWhen: (r) => r.metricFail[effect.metric] !== undefined,
        }), at)
        : undefined;
      const maturedOnly = effect.metric === 'activation'
        ? delays(simulate(withoutEarly(scenario), {
          runs: effectRuns, seed: seed + 1000 + 10 * e + onset, evaluator: sequential, stopWhen: (r) => r.metricFail[effect.metric] !== undefined,
        }), at)
        : undefined;
      curves[effect.key][onset === 0 ? 'exposure' : `h${onset}`] = {
        ...(maturedOnly ? { maturedOnly } : {}),
        label: scenario.name,
        ...delays(records, at),
        beforeOnset: rateOf(records, (r) => (r.metricFail[effect.metric] ?? Infinity) < onset),
        oracle: oracleDelay(scenario, effect, onset, budget),
        ...(before ? { previous: before } : {}),
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
      evaluatorMicros: micros(newTiming),
      baselineMicros: micros(baselineTiming),
      ratio: micros(newTiming) / micros(baselineTiming),
      evaluations: newTiming.evaluations,
    },
  };
}

// Drives the real evaluators over simulated cohorts, tick by tick, and records when each guard,
// metric and the outcome first changed. Runs are independent and seeded from (seed, run index).

import type { CohortEvaluator, EvaluatorMemory } from '../src/verdict/cohort-evaluator.js';
import type { MetricName } from '../src/verdict/statistics/alpha-budget.js';
import { failedGuards } from '../src/verdict/sequential-evaluator.js';
import type { BucketLayout } from './bucketed-latencies.js';
import { ArmModel, bindLayout, SimulatedCohort } from './cohort-generator.js';
import { Random } from './random.js';
import type { Scenario } from './scenarios.js';

export interface RunRecord {
  /** First tick (hour) with outcome 'fail'; null if never. */
  fail: number | null;
  /** First tick each metric showed status 'fail'. */
  metricFail: Partial<Record<MetricName, number>>;
  /** First tick each guard id appeared among the failed guards. */
  guardFail: Record<string, number>;
  /** First tick with outcome 'invalid' (SRM). */
  invalid: number | null;
  /** First tick the SRM check reported a mismatch (even after a fail). */
  srm: number | null;
}

export interface RunOptions {
  runs: number;
  seed: number;
  evaluator: () => CohortEvaluator;
  /** Stop a run once this returns true (e.g. the effect was detected); default: run every tick. */
  stopWhen?: (record: RunRecord) => boolean;
}

const HOUR_MS = 3_600_000;

export interface ScenarioModels {
  treatment: ArmModel;
  control: ArmModel;
  /** The treatment before a mid-run onset. */
  before?: ArmModel;
  layout: BucketLayout;
}

export function scenarioModels(scenario: Scenario): ScenarioModels {
  const threshold = scenario.rule.latencyP95Threshold;
  const treatment = new ArmModel(scenario.treatment, threshold, scenario.shape);
  const control = new ArmModel(scenario.control, threshold, scenario.shape);
  const before = scenario.onset ? new ArmModel(scenario.onset.before, threshold, scenario.shape) : undefined;
  return { treatment, control, before, layout: bindLayout(before ? [treatment, control, before] : [treatment, control]) };
}

export function simulateRun(
  scenario: Scenario,
  evaluator: CohortEvaluator,
  random: Random,
  models: ScenarioModels,
  stopWhen?: (r: RunRecord) => boolean,
): RunRecord {
  const treatment = new SimulatedCohort('treatment', models.before ?? models.treatment, random, models.layout);
  const control = new SimulatedCohort('control', models.control, random, models.layout);
  const record: RunRecord = { fail: null, metricFail: {}, guardFail: {}, invalid: null, srm: null };
  let memory: EvaluatorMemory = {};
  for (let tick = 1; tick <= scenario.shape.ticks; tick++) {
    if (scenario.onset && tick === scenario.onset.tick) treatment.useModel(models.treatment);
    const assignedT = random.binomial(scenario.assignmentsPerTick, 0.5);
    const assignedC = scenario.assignmentsPerTick - assignedT;
    treatment.step(tick, random.binomial(assignedT, scenario.treatmentExposureKept));
    control.step(tick, assignedC);
    const t = treatment.snapshot();
    const c = control.snapshot();
    const result = evaluator.evaluate({
      rule: scenario.rule,
      ruleVersion: 'sim',
      cohort: t,
      control: c,
      exposures: { treatment: t.exposed, control: c.exposed },
      at: tick * HOUR_MS,
      memory,
    });
    memory = result.memory;
    if (result.outcome === 'fail' && record.fail === null) record.fail = tick;
    if (result.outcome === 'invalid' && record.invalid === null) record.invalid = tick;
    if (result.srm.status === 'mismatch' && record.srm === null) record.srm = tick;
    for (const m of ['activation', 'retention', 'latencyP95'] as const) {
      if (result.metrics[m].status === 'fail' && record.metricFail[m] === undefined) record.metricFail[m] = tick;
    }
    for (const g of failedGuards(memory)) if (record.guardFail[g] === undefined) record.guardFail[g] = tick;
    if (stopWhen?.(record)) break;
  }
  return record;
}

export function simulate(scenario: Scenario, options: RunOptions): RunRecord[] {
  const models = scenarioModels(scenario);
  const records: RunRecord[] = [];
  for (let i = 0; i < options.runs; i++) {
    const random = new Random((options.seed * 1_000_003 + i) >>> 0);
    records.push(simulateRun(scenario, options.evaluator(), random, models, options.stopWhen));
  }
  return records;
}

export interface RateSummary {
  rate: number;
  runs: number;
  /** rate + 3 standard errors at the nominal α: the bound the A/A tests assert. */
  bound?: number;
}

export interface DelaySummary {
  power: number;
  medianHours: number | null;
  p90Hours: number | null;
}

export function rateOf(records: RunRecord[], hit: (r: RunRecord) => boolean): number {
  return records.filter(hit).length / records.length;
}

function quantileOf(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Power = share detected within the horizon; delays over detected runs (nearest-rank quantiles). */
export function delays(records: RunRecord[], at: (r: RunRecord) => number | null | undefined): DelaySummary {
  const hits = records.map(at).filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  return { power: hits.length / records.length, medianHours: quantileOf(hits, 0.5), p90Hours: quantileOf(hits, 0.9) };
}

/** α + 3·√(α(1−α)/R): the largest false-rollback rate an A/A run of R repetitions may show. */
export function falseRateBound(alpha: number, runs: number): number {
  return alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs);
}

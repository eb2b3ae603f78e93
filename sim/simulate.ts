// Drives the real evaluators over simulated cohorts, tick by tick, and records when each guard,
// metric and the outcome first changed. Runs are independent and seeded from (seed, run index).

import type { CohortEvaluator, EvaluatorMemory } from '../src/verdict/cohort-evaluator.js';
import type { MetricName } from '../src/verdict/statistics/alpha-budget.js';
import type { MergedCohortStats } from '../src/verdict/cohort-evaluator.js';
import { detectorAlarms, failedGuards } from '../src/verdict/sequential-evaluator.js';
import type { BucketLayout } from './bucketed-latencies.js';
import { ArmModel, bindLayout, SimulatedCohort, type ArmTruth } from './cohort-generator.js';
import { Random } from './random.js';
import { BACKFILL_BLOCK_TICKS, type Scenario } from './scenarios.js';

export interface RunRecord {
  /** First tick (hour) with outcome 'fail'; null if never. */
  fail: number | null;
  /** First tick each metric showed status 'fail'. */
  metricFail: Partial<Record<MetricName, number>>;
  /** First tick each guard id appeared among the failed guards. */
  guardFail: Record<string, number>;
  /** First tick each guard's detector crossed 1/α_g, counted or not (gates, SRM). */
  alarms: Record<string, number>;
  /** First tick with outcome 'invalid' (SRM). */
  invalid: number | null;
  /** First tick the SRM check reported a mismatch (even after a fail). */
  srm: number | null;
  /** Whether the product-limit test of the activation guardrail failed it. */
  productLimitFail?: boolean;
}

export interface RunOptions {
  runs: number;
  seed: number;
  evaluator: () => CohortEvaluator;
  /** Stop a run once this returns true (e.g. the effect was detected); default: run every tick. */
  stopWhen?: (record: RunRecord) => boolean;
  /** Adds the time spent in evaluate() (ms) and the number of calls. */
  timing?: { ms: number; evaluations: number };
}

const HOUR_MS = 3_600_000;

export interface ScenarioModels {
  treatment: ArmModel;
  control: ArmModel;
  /** The treatment before a mid-run onset. */
  before?: ArmModel;
  /** Both arms after a shift. */
  shiftedTreatment?: ArmModel;
  shiftedControl?: ArmModel;
  layout: BucketLayout;
}

export function scenarioModels(scenario: Scenario): ScenarioModels {
  const threshold = scenario.rule.latencyP95Threshold;
  const model = (truth: ArmTruth) => new ArmModel(truth, threshold, scenario.shape);
  const treatment = model(scenario.treatment);
  const control = model(scenario.control);
  const before = scenario.onset ? model(scenario.onset.before) : undefined;
  const shiftedTreatment = scenario.shift ? model(scenario.shift.treatment) : undefined;
  const shiftedControl = scenario.shift ? model(scenario.shift.control) : undefined;
  const all = [treatment, control, before, shiftedTreatment, shiftedControl].filter((x): x is ArmModel => x !== undefined);
  return { treatment, control, before, shiftedTreatment, shiftedControl, layout: bindLayout(all) };
}

function newUsers(scenario: Scenario, tick: number): number {
  if (!scenario.diurnal) return scenario.assignmentsPerTick;
  return Math.round(scenario.assignmentsPerTick * (1 + 0.8 * Math.sin((2 * Math.PI * tick) / 24)));
}

/** Up to which tick each arm's data has arrived at this tick (never backwards). */
function arrived(scenario: Scenario, tick: number, random: Random, before: { t: number; c: number }): { t: number; c: number } {
  if (scenario.arrival === 'shuffled') {
    return {
      t: Math.max(before.t, tick - Math.floor(random.uniform() * 4)),
      c: Math.max(before.c, tick - Math.floor(random.uniform() * 4)),
    };
  }
  if (scenario.arrival === 'cohort-sorted') return { t: Math.floor(tick / BACKFILL_BLOCK_TICKS) * BACKFILL_BLOCK_TICKS, c: tick };
  return { t: tick, c: tick };
}

/** Snapshots of the last few ticks, for arrival orders that deliver an arm behind the step. */
const KEEP_TICKS = 8;

function treatmentShare(scenario: Scenario, tick: number): number {
  const r = scenario.ramp;
  return r ? (tick < r.tick ? r.before : r.after) : 0.5;
}

export function simulateRun(
  scenario: Scenario,
  evaluator: CohortEvaluator,
  random: Random,
  models: ScenarioModels,
  stopWhen?: (r: RunRecord) => boolean,
  timing?: { ms: number; evaluations: number },
): RunRecord {
  const treatment = new SimulatedCohort('treatment', models.before ?? models.treatment, random, models.layout);
  const control = new SimulatedCohort('control', models.control, random, models.layout);
  const record: RunRecord = { fail: null, metricFail: {}, guardFail: {}, alarms: {}, invalid: null, srm: null };
  let memory: EvaluatorMemory = {};
  // Late delivery: snapshots wait until the watermark passes their tick.
  const pending: { tick: number; t: MergedCohortStats; c: MergedCohortStats }[] = [];
  let watermark = 0;
  const reordered = scenario.arrival !== undefined && scenario.arrival !== 'in order';
  const history: { t: MergedCohortStats; c: MergedCohortStats }[] = [];
  let upTo = { t: 0, c: 0 };
  for (let tick = 1; tick <= scenario.shape.ticks; tick++) {
    if (scenario.onset && tick === scenario.onset.tick) treatment.useModel(models.treatment);
    if (scenario.shift && tick === scenario.shift.tick) {
      treatment.useModel(models.shiftedTreatment!);
      control.useModel(models.shiftedControl!);
    }
    const users = newUsers(scenario, tick);
    const assignedT = random.binomial(users, treatmentShare(scenario, tick));
    const assignedC = users - assignedT;
    treatment.step(tick, random.binomial(assignedT, scenario.treatmentExposureKept));
    control.step(tick, assignedC);
    let t = treatment.snapshot();
    let c = control.snapshot();
    let at = tick;
    if (reordered) {
      history[tick % KEEP_TICKS] = { t, c };
      upTo = arrived(scenario, tick, random, upTo);
      // Nothing of the treatment yet: the engine has no treatment cohort to judge.
      if (upTo.t < 1 || upTo.c < 1) continue;
      t = history[upTo.t % KEEP_TICKS].t;
      c = history[upTo.c % KEEP_TICKS].c;
    } else if (scenario.lateDelivery) {
      pending.push({ tick, t, c });
      const next = Math.max(watermark, tick - Math.floor(random.uniform() * 4));
      if (next === watermark) continue;
      watermark = next;
      while (pending.length > 0 && pending[0].tick < watermark) pending.shift();
      ({ t, c } = pending[0]);
      at = watermark;
    }
    const started = timing ? performance.now() : 0;
    const result = evaluator.evaluate({
      rule: scenario.rule,
      ruleVersion: 'sim',
      cohort: t,
      control: c,
      exposures: { treatment: t.exposed, control: c.exposed },
      at: at * HOUR_MS,
      memory,
    });
    if (timing) {
      timing.ms += performance.now() - started;
      timing.evaluations++;
    }
    memory = result.memory;
    if (result.outcome === 'fail' && record.fail === null) record.fail = at;
    if (result.outcome === 'invalid' && record.invalid === null) record.invalid = at;
    if (result.srm.status === 'mismatch' && record.srm === null) record.srm = at;
    for (const m of ['activation', 'retention', 'latencyP95'] as const) {
      if (result.metrics[m].status === 'fail' && record.metricFail[m] === undefined) record.metricFail[m] = at;
    }
    for (const g of failedGuards(memory)) if (record.guardFail[g] === undefined) record.guardFail[g] = at;
    if (result.regressions?.some((r) => r.detector.endsWith('product-limit-vs-control'))) record.productLimitFail = true;
    for (const [g, ms] of Object.entries(detectorAlarms(memory))) if (record.alarms[g] === undefined) record.alarms[g] = ms / HOUR_MS;
    if (stopWhen?.(record)) break;
  }
  return record;
}

export function simulate(scenario: Scenario, options: RunOptions): RunRecord[] {
  const models = scenarioModels(scenario);
  const records: RunRecord[] = [];
  for (let i = 0; i < options.runs; i++) {
    const random = new Random((options.seed * 1_000_003 + i) >>> 0);
    records.push(simulateRun(scenario, options.evaluator(), random, models, options.stopWhen, options.timing));
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

/** Wilson score interval (95 %) for k of n: the upper end is the bound the nulls must keep ≤ α. */
export function wilson(k: number, n: number): { lower: number; upper: number } {
  const z = 1.959964;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/** α + 3·√(α(1−α)/R): the largest false-rollback rate an A/A run of R repetitions may show. */
export function falseRateBound(alpha: number, runs: number): number {
  return alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs);
}

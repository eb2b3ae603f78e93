// The simulated rules and truths. Null scenarios put every guard exactly on its null boundary
// (p_T = θ, Δ = −δ, share above T = 5 %, P95_T = (1+δ)·P95_C): the hardest case for false
// rollbacks; the realistic nulls add diurnal traffic, heavy users, a harmless shift of both arms,
// a change of allocation (ramp) and late, out-of-order delivery. Effect scenarios start from a
// healthy cohort and shift one metric, from the first exposure or from hour 48.

import { Rule, type RuleInput } from '../src/rules/schema.js';
import type { ArmTruth, TrafficShape } from './cohort-generator.js';

export const HOURLY_14_DAYS: TrafficShape = {
  ticks: 14 * 24,
  requestsPerUser: 10,
  slowCorrelation: 0.05,
  activationDelayTicks: 24,
  retentionDelayTicks: 7 * 24,
  activationMeanTicks: 6,
  // The rules' default landmark: half the 24 h activation window.
  activationEarlyTicks: 12,
};

export interface Scenario {
  name: string;
  rule: Rule;
  treatment: ArmTruth;
  control: ArmTruth;
  /** New users assigned per tick over both cohorts (50/50). */
  assignmentsPerTick: number;
  /** Share of treatment exposures that reach the guard (1 = no loss; < 1 = broken logging → SRM). */
  treatmentExposureKept: number;
  shape: TrafficShape;
  /** The treatment behaves like `before` until this tick, then like `treatment` (mid-run onset). */
  onset?: { tick: number; before: ArmTruth };
  /** Both arms change to these truths at this tick (a slow dependency for everyone). */
  shift?: { tick: number; treatment: ArmTruth; control: ArmTruth };
  /** Traffic follows the time of day: × (1 + 0.8·sin(2πt/24)). */
  diurnal?: boolean;
  /** Treatment's share of new users: `before` until `tick`, then `after` (default 0.5 throughout). */
  ramp?: { tick: number; before: number; after: number };
  /**
   * Late, out-of-order delivery: each hour the treatment's data is complete only up to 0–3 hours
   * back, so evaluations happen at irregular event-time steps (the watermark), each over the data
   * complete up to it.
   */
  lateDelivery?: boolean;
  /**
   * The order the data reaches the aggregators (default in order). Evaluations stay at hourly
   * event-time steps, each over what had arrived by then: 'shuffled' leaves each arm's newest
   * 0–3 hours out at random, independently per arm; 'cohort-sorted' is a backfill in 6-hour
   * blocks, the control's block first, so the treatment lags 0–5 hours and catches up at each block end.
   */
  arrival?: ArrivalOrder;
}

export const ARRIVAL_ORDERS = ['in order', 'shuffled', 'cohort-sorted'] as const;
export type ArrivalOrder = (typeof ARRIVAL_ORDERS)[number];
/** Block length of the cohort-sorted backfill, in ticks. */
export const BACKFILL_BLOCK_TICKS = 6;

const SIGMA = Math.log(3) / 1.6448536269514722;

const baseRule: RuleInput = {
  featureId: 'feat_sim',
  activationThreshold: 0.2,
  retentionThreshold: 0.3,
  latencyP95Threshold: 1500,
  minCohortSize: 1000,
  evaluationWindowSeconds: 4 * 3600,
  // The landmark of the product-limit test is the default, half the window (12 h), as the simulated stats carry.
  activation: { action: { spanName: 'sim.activate' } },
  cohorts: { control: 'control', guarded: ['treatment'] },
  guardrails: { maxActivationDrop: 0, maxRetentionDrop: 0, maxP95Increase: 0.1 },
  alpha: 0.05,
  maxDurationSeconds: 14 * 86_400,
};

const healthy: ArmTruth = { activation: 0.3, retention: 0.4, latency: { p95: 1200, sigma: SIGMA } };

function scenario(name: string, treatment: Partial<ArmTruth>, extra: Partial<Scenario> = {}, rule: Partial<RuleInput> = {}): Scenario {
  return {
    name,
    rule: Rule.parse({ ...baseRule, ...rule }),
    treatment: { ...healthy, ...treatment },
    control: healthy,
    assignmentsPerTick: 400,
    treatmentExposureKept: 1,
    shape: HOURLY_14_DAYS,
    ...extra,
  };
}

/** Every guard on its null boundary at once: per-guard and family false-rollback rates. */
export const nullBoundary: Scenario = scenario(
  'null boundary (A/A-type)',
  { activation: 0.3, retention: 0.4, latency: { p95: 1200, sigma: SIGMA } },
  { control: { activation: 0.32, retention: 0.42, latency: { p95: 1200 / 1.1, sigma: SIGMA } } },
  {
    activationThreshold: 0.3,
    retentionThreshold: 0.4,
    latencyP95Threshold: 1200,
    guardrails: { maxActivationDrop: 0.02, maxRetentionDrop: 0.02, maxP95Increase: 0.1 },
  },
);

function variant(name: string, base: Scenario, extra: Partial<Scenario>): Scenario {
  return { ...base, name, ...extra };
}

/** Both arms better by the same amount until hour 48, then on the null boundary. */
const beforeShift = (t: ArmTruth): ArmTruth => ({
  activation: t.activation + 0.05,
  retention: t.retention + 0.05,
  latency: { p95: t.latency.p95 * 0.8, sigma: t.latency.sigma },
});
const shifted: Scenario = {
  ...nullBoundary,
  treatment: beforeShift(nullBoundary.treatment),
  control: beforeShift(nullBoundary.control),
  shift: { tick: 48, treatment: nullBoundary.treatment, control: nullBoundary.control },
};

/** The nulls the family false-rollback rate must hold in. */
export const nullScenarios: Scenario[] = [
  nullBoundary,
  variant('diurnal traffic', nullBoundary, { diurnal: true }),
  variant('heavy users (1 % of users make 300 requests)', nullBoundary, {
    shape: { ...nullBoundary.shape, heavy: { share: 0.01, requests: 300 } },
  }),
  variant('harmless shift of both arms at hour 48 (slower, fewer activations)', shifted, {}),
  variant('allocation ramp 20 % → 50 % at hour 48, with the shift', shifted, { ramp: { tick: 48, before: 0.2, after: 0.5 } }),
  variant('out-of-order arrival (treatment 0–3 h late)', nullBoundary, { lateDelivery: true }),
  // Same 24 h rates as the null boundary, but the treatment's activators take twice as long (mean
  // 12 h vs 6 h): fewer activations by the landmark, more after it. Not a regression of the
  // activation rate within the window; the product-limit test must not roll it back.
  variant('treatment only activates later (activators\' mean 12 h vs 6 h), same 24 h rates', nullBoundary, {
    treatment: { ...nullBoundary.treatment, activationMeanTicks: 12 },
  }),
];

export const exposureLoss = scenario('5 % of treatment exposures lost', {}, { treatmentExposureKept: 0.95 });

export interface Effect {
  key: string;
  label: string;
  metric: 'activation' | 'retention' | 'latencyP95';
  treatment: Partial<ArmTruth>;
}

export const EFFECTS: Effect[] = [
  { key: 'latencyPlus100ms', label: 'latency +100 ms at P95 (1200 → 1300 ms)', metric: 'latencyP95', treatment: { latency: { p95: 1300, sigma: SIGMA } } },
  { key: 'latencyPlus200ms', label: 'latency +200 ms at P95 (1200 → 1400 ms)', metric: 'latencyP95', treatment: { latency: { p95: 1400, sigma: SIGMA } } },
  { key: 'latencyPlus450ms', label: 'latency +450 ms at P95 (1200 → 1650 ms)', metric: 'latencyP95', treatment: { latency: { p95: 1650, sigma: SIGMA } } },
  { key: 'activationMinus2pt', label: 'activation −2 pt (30 → 28 %)', metric: 'activation', treatment: { activation: 0.28 } },
  { key: 'activationMinus5pt', label: 'activation −5 pt (30 → 25 %)', metric: 'activation', treatment: { activation: 0.25 } },
  { key: 'retentionMinus3pt', label: 'retention −3 pt (40 → 37 %)', metric: 'retention', treatment: { retention: 0.37 } },
];

/** Onsets of the power curves: at the first exposure, and after two healthy days. */
export const ONSETS = [0, 48] as const;

export function effectScenario(effect: Effect, onset: number): Scenario {
  const name = onset === 0 ? effect.label : `${effect.label} from hour ${onset}`;
  return scenario(name, effect.treatment, onset === 0 ? {} : { onset: { tick: onset, before: healthy } });
}

export const HEALTHY = healthy;
export const LATENCY_SIGMA = SIGMA;

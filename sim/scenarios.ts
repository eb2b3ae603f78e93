// The simulated rules and truths. Null scenarios put every guard exactly on its null boundary
// (p_T = θ, Δ = −δ, share above T = 5 %, P95_T = (1+δ)·P95_C): the hardest case for false
// rollbacks. Effect scenarios start from a healthy cohort and shift one metric from t = 0.

import { Rule, type RuleInput } from '../src/rules/schema.js';
import type { ArmTruth, TrafficShape } from './cohort-generator.js';

export const HOURLY_14_DAYS: TrafficShape = {
  ticks: 14 * 24,
  requestsPerUser: 10,
  slowCorrelation: 0.05,
  activationDelayTicks: 24,
  retentionDelayTicks: 7 * 24,
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
}

const SIGMA = Math.log(3) / 1.6448536269514722;

const baseRule: RuleInput = {
  featureId: 'feat_sim',
  activationThreshold: 0.2,
  retentionThreshold: 0.3,
  latencyP95Threshold: 1500,
  minCohortSize: 1000,
  evaluationWindowSeconds: 4 * 3600,
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

export const activationDrop = scenario('activation -5 pt (30 % → 25 %)', { activation: 0.25 });
export const retentionDrop = scenario('retention -3 pt (40 % → 37 %)', { retention: 0.37 });
export const latencySpike = scenario('latency +450 ms at P95 (1200 → 1650 ms)', { latency: { p95: 1650, sigma: SIGMA } });
export const exposureLoss = scenario('5 % of treatment exposures lost', {}, { treatmentExposureKept: 0.95 });
/** The seed's story: a P95 spike that starts after two healthy days (cumulative stats dilute it). */
export const latencySpikeAfter48h = scenario(
  'latency +450 ms at P95 from hour 48',
  { latency: { p95: 1650, sigma: SIGMA } },
  { onset: { tick: 48, before: healthy } },
);

// The oracle the detection delays are compared with: it knows the onset and the truths' variances
// and runs ONE fixed-horizon one-sided z-test per guard at that guard's α_g on post-onset data
// only (the control's P95 known exactly). Its delay for a power of 50 % (median) and 90 % (p90)
// is a floor no sequential method at the same α_g can beat; the minCohortSize / evaluation-window
// gate and the maturity windows apply to it as to the evaluator. Normal approximation, design effect 1 + (m−1)ρ
// for request shares (m requests per user, intra-user correlation ρ).

import type { AlphaBudget } from '../src/verdict/statistics/alpha-budget.js';
import { normalCdf, normalQuantile } from './random.js';
import { HEALTHY, LATENCY_SIGMA, type Effect, type Scenario } from './scenarios.js';

const Z95 = normalQuantile(0.95);

function exceedance(p95: number, sigma: number, cut: number): number {
  const mu = Math.log(p95) - Z95 * sigma;
  return 1 - normalCdf((Math.log(cut) - mu) / sigma);
}

/** Smallest hours of post-onset data at which a z-test with this signal/noise has the power. */
function hoursFor(signal: number, noisePerHour: number, alpha: number, power: number): number | null {
  if (!(signal > 0)) return null;
  const needed = normalQuantile(1 - alpha) + normalQuantile(power);
  // signal / (noise / √h) ≥ needed ⇔ h ≥ (needed·noise/signal)²
  const h = Math.ceil(((needed * noisePerHour) / signal) ** 2 - 1e-9);
  return Math.max(1, h);
}

export interface OracleDelay {
  medianHours: number | null;
  p90Hours: number | null;
}

export function oracleDelay(scenario: Scenario, effect: Effect, onset: number, budget: AlphaBudget): OracleDelay {
  const rule = scenario.rule;
  const shape = scenario.shape;
  const perArmPerHour = scenario.assignmentsPerTick / 2;
  const requestsPerHour = perArmPerHour * shape.requestsPerUser;
  const deff = 1 + (shape.requestsPerUser - 1) * shape.slowCorrelation;
  const candidates: { alpha: number; signal: number; noise: number }[] = [];
  let maturity = 0;
  if (effect.metric === 'latencyP95') {
    const lat = effect.treatment.latency ?? HEALTHY.latency;
    const qT = exceedance(lat.p95, LATENCY_SIGMA, rule.latencyP95Threshold);
    candidates.push({ alpha: budget.byGuard.latencyP95, signal: qT - 0.05, noise: Math.sqrt((qT * (1 - qT) * deff) / requestsPerHour) });
    const factor = 1 + (rule.guardrails.maxP95Increase ?? 0);
    const qC = exceedance(lat.p95, LATENCY_SIGMA, factor * HEALTHY.latency.p95);
    candidates.push({ alpha: budget.byGuard['latencyP95-vs-control'], signal: qC - 0.05, noise: Math.sqrt((qC * (1 - qC) * deff) / requestsPerHour) });
  } else {
    const metric = effect.metric;
    maturity = metric === 'activation' ? shape.activationDelayTicks : shape.retentionDelayTicks;
    const pT = effect.treatment[metric] ?? HEALTHY[metric];
    const pC = HEALTHY[metric];
    const theta = metric === 'activation' ? rule.activationThreshold : rule.retentionThreshold;
    const drop = (metric === 'activation' ? rule.guardrails.maxActivationDrop : rule.guardrails.maxRetentionDrop) ?? 0;
    candidates.push({ alpha: budget.byGuard[metric], signal: theta - pT, noise: Math.sqrt((pT * (1 - pT)) / perArmPerHour) });
    candidates.push({
      alpha: budget.byGuard[`${metric}-vs-control`],
      signal: pC - drop - pT,
      noise: Math.sqrt((pT * (1 - pT) + pC * (1 - pC)) / perArmPerHour),
    });
  }
  const gate = Math.max(Math.ceil(rule.minCohortSize / perArmPerHour), Math.ceil(rule.evaluationWindowSeconds / 3600));
  const delay = (power: number): number | null => {
    const hours = candidates.map((c) => hoursFor(c.signal, c.noise, c.alpha, power)).filter((h): h is number => h !== null);
    if (hours.length === 0) return null;
    const h = Math.min(...hours);
    // Delay convention of the sim: at exposure the tick of the decision; from an onset at tick s,
    // tick − s (the onset tick's own data is the first hour). The simulated cohort draws a user's
    // outcome when it matures, so a mid-run onset changes the outcomes maturing from then on, and
    // the first of those mature at tick maturity + 1 at the earliest.
    const tick = onset === 0 ? Math.max(maturity + h, gate) : Math.max(onset, maturity + 1) + h - 1;
    const delayHours = onset === 0 ? tick : tick - onset;
    return tick <= shape.ticks ? delayHours : null;
  };
  return { medianHours: delay(0.5), p90Hours: delay(0.9) };
}

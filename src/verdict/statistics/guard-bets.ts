// The bets of each guard's e-detector: for one evaluation step's new data, ln e_k for each of K
// bets, each an e-value under the guard's null given everything before the step (docs/statistics.md).
//
//   rate threshold   p ≥ θ       Bernoulli likelihood ratio of p' = θ − d_k against θ, over the
//                                users who matured in the step (exact; a supermartingale for p ≥ θ).
//   rate vs control  p_T − p_C ≥ −δ   Fan et al.'s bound on a per-user bet, weighted by the step's
//                                own allocation (n_C/(n_T+n_C) for a treatment user, n_T/(n_T+n_C)
//                                for a control user): valid for any allocation, also one that
//                                changes mid-run, and for rates that drift in both arms alike.
//   P95 ≤ T          share > T ≤ 5 %   Fan's bound on per-user ξ = slow_u − 0.05·n_u, scaled by the
//                                step's largest possible user (Samuelson's bound from Σn, Σn²):
//                                cluster-robust from the aggregator's per-user sums.
//   P95 vs control   P95_T ≤ (1+δ)·P95_C   the same per-user bet on "treatment requests above
//                                (1+δ)·κ" against "control requests above κ", κ the control's P95
//                                as of the previous step, both arms from the same step.

import type { LatencyStats } from '../../events/cohort-stats.js';
import { fanPsi } from './e-detector.js';

/** Absolute rate drops the threshold bets stand for (3 pts is the project's smallest effect worth acting on). */
export const RATE_DROPS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2] as const;
/** Bet sizes of the Fan bets, on the scale where every per-user term is ≥ −1. */
export const LAMBDAS = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64] as const;
export const BETS = 8;

/** New matured users of one arm in a step. */
export interface RateStep {
  n: number;
  successes: number;
}

/** New requests of one arm in a step, with the per-user sums of the aggregator. */
export type LatencyStep = Pick<LatencyStats, 'count' | 'slow' | 'users' | 'sumN2' | 'sumSlow2' | 'sumNSlow'>;

function clampRate(p: number): number {
  return Math.min(Math.max(p, 1e-9), 1 - 1e-9);
}

export function rateThresholdBets(step: RateStep, theta: number, out: Float64Array): void {
  if (step.n <= 0 || theta <= 0) {
    out.fill(0);
    return;
  }
  const t = clampRate(theta);
  const fails = step.n - step.successes;
  for (let k = 0; k < BETS; k++) {
    const p1 = clampRate(Math.max(t - RATE_DROPS[k], t / 20));
    out[k] = step.successes * Math.log(p1 / t) + fails * Math.log((1 - p1) / (1 - t));
  }
}

/** Σ_k over a sum S of scaled terms and their sum of squares V: ln e_k = λ_k S − ψ(λ_k) V. */
function fanBets(s: number, v: number, out: Float64Array): void {
  for (let k = 0; k < BETS; k++) out[k] = LAMBDAS[k] * s - fanPsi(LAMBDAS[k]) * v;
}

/**
 * centre: any number fixed before the step (the pooled rate so far); it only moves the variance.
 * maxDrop: δ of the guardrail (p_T − p_C ≥ −δ passes).
 */
export function rateVsControlBets(t: RateStep, c: RateStep, centre: number, maxDrop: number, out: Float64Array): void {
  if (t.n <= 0 || c.n <= 0) {
    out.fill(0);
    return;
  }
  const wT = c.n / (t.n + c.n);
  const wC = t.n / (t.n + c.n);
  const half = maxDrop / 2;
  // Per-user terms (mean ≤ 0 under the null): treatment −wT(Y − c + δ/2), control wC(Y − c − δ/2).
  const xT1 = -wT * (1 - centre + half);
  const xT0 = wT * (centre - half);
  const xC1 = wC * (1 - centre - half);
  const xC0 = -wC * (centre + half);
  const scale = Math.max(-Math.min(xT1, xT0, xC1, xC0), 1e-12);
  const tFails = t.n - t.successes;
  const cFails = c.n - c.successes;
  const s = (t.successes * xT1 + tFails * xT0 + c.successes * xC1 + cFails * xC0) / scale;
  const v = (t.successes * xT1 * xT1 + tFails * xT0 * xT0 + c.successes * xC1 * xC1 + cFails * xC0 * xC0) / (scale * scale);
  fanBets(s, v, out);
}

/**
 * Largest number of requests one user of the step can have: Samuelson's bound mean + sd·√(m−1)
 * from Σn and Σn², never above √Σn². Treats the step's requests as made by `users` users.
 */
export function largestUser(step: LatencyStep): number {
  const bySquares = Math.sqrt(Math.max(step.sumN2, 0));
  if (step.users < 1) return Math.max(bySquares, 1);
  const mean = step.count / step.users;
  const variance = Math.max(step.sumN2 / step.users - mean * mean, 0);
  return Math.max(1, Math.min(bySquares, mean + Math.sqrt(variance * (step.users - 1))));
}

export function latencyThresholdBets(step: LatencyStep, share: number, out: Float64Array): void {
  if (step.count <= 0) {
    out.fill(0);
    return;
  }
  // ξ_u = slow_u − q₀·n_u ≥ −q₀·n_u ≥ −scale.
  const scale = share * largestUser(step);
  const s = (step.slow - share * step.count) / scale;
  const squares = step.sumSlow2 - 2 * share * step.sumNSlow + share * share * step.sumN2;
  fanBets(s, Math.max(squares, 0) / (scale * scale), out);
}

/** One arm of the vs-control P95 bet: requests of the step, how many above its cut, design effect. */
export interface CutStep {
  step: LatencyStep;
  above: number;
  designEffect: number;
}

/**
 * Treatment counted above (1+δ)·κ, control above κ; null: the treatment's share is at most the
 * control's. The per-user squares of "above the cut" are not aggregated, so Σξ² is the
 * request-level sum times each arm's design effect at the rule's threshold (the same approximation
 * as the order-statistic CS of the P95).
 */
export function latencyVsControlBets(t: CutStep, c: CutStep, centre: number, out: Float64Array): void {
  const nT = t.step.count;
  const nC = c.step.count;
  if (nT <= 0 || nC <= 0) {
    out.fill(0);
    return;
  }
  const aT = nC / (nT + nC);
  const aC = nT / (nT + nC);
  const scale = Math.max(aT * centre * largestUser(t.step), aC * (1 - centre) * largestUser(c.step));
  const s = (aT * (t.above - centre * nT) - aC * (c.above - centre * nC)) / scale;
  const squares = (above: number, n: number) => above * (1 - centre) ** 2 + (n - above) * centre * centre;
  const v = (aT * aT * t.designEffect * squares(t.above, nT) + aC * aC * c.designEffect * squares(c.above, nC)) / (scale * scale);
  fanBets(s, v, out);
}

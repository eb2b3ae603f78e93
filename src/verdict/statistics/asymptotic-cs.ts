// The asymptotic confidence sequence GrowthBook and Eppo use (Waudby-Smith et al. 2021,
// arXiv:2103.06476; docs/statistics.md): the normal-mixture boundary applied to a
// CLT-normalised estimator. Valid only as n grows, so callers intersect it with an exact CS while n
// is small. The tuning size N* is where the boundary is tightest and must be fixed before data.

import type { Interval } from './robbins-cs.js';

/** Eppo's default; near where a 3–5 pt drop on a ~30 % rate is decided at α ≈ 1 %. */
export const DEFAULT_TUNING_N = 10_000;

/** GrowthBook's sequentialRho: ρ = √((−2 ln α + ln(1 − 2 ln α)) / N*). */
export function tuningRho(alpha: number, tuningN: number = DEFAULT_TUNING_N): number {
  const l = -2 * Math.log(alpha);
  return Math.sqrt((l + Math.log(1 + l)) / tuningN);
}

/**
 * W(n) = √(2(nρ²+1)·ln(√(nρ²+1)/α) / (nρ)²): the two-sided half-width per unit of unit-level
 * standard deviation after n units (half-width = s·W(n), s² = SE²·n).
 */
export function halfWidthMultiplier(n: number, alpha: number, tuningN: number = DEFAULT_TUNING_N): number {
  if (n <= 0) return Number.POSITIVE_INFINITY;
  const rho = tuningRho(alpha, tuningN);
  const v = n * rho * rho + 1;
  return Math.sqrt((2 * v * Math.log(Math.sqrt(v) / alpha)) / (n * rho) ** 2);
}

/** estimate ± sd·W(n) for a mean of n i.i.d. units whose standard deviation is sd. */
export function meanCs(estimate: number, sd: number, n: number, alpha: number, tuningN?: number): Interval {
  const half = sd * halfWidthMultiplier(n, alpha, tuningN);
  return { lower: estimate - half, upper: estimate + half };
}

/** One-sample rate: p̂ ± √(p̂(1−p̂))·W(n), clipped to [0, 1]. */
export function oneSampleRateCs(successes: number, n: number, alpha: number, tuningN?: number): Interval {
  if (n <= 0) return { lower: 0, upper: 1 };
  const p = successes / n;
  const cs = meanCs(p, Math.sqrt(p * (1 - p)), n, alpha, tuningN);
  return { lower: Math.max(0, cs.lower), upper: Math.min(1, cs.upper) };
}

export interface RateArm {
  successes: number;
  n: number;
}

/**
 * Difference of rates Δ = p_T − p_C: Δ̂ ± SE·√n·W(n) with n = n_T + n_C and
 * SE² = p̂_T(1−p̂_T)/n_T + p̂_C(1−p̂_C)/n_C (docs/statistics.md).
 */
export function rateDifferenceCs(
  treatment: RateArm,
  control: RateArm,
  alpha: number,
  tuningN?: number,
): Interval & { estimate: number; se: number } {
  const pT = treatment.successes / treatment.n;
  const pC = control.successes / control.n;
  const se = Math.sqrt((pT * (1 - pT)) / treatment.n + (pC * (1 - pC)) / control.n);
  const n = treatment.n + control.n;
  const cs = meanCs(pT - pC, se * Math.sqrt(n), n, alpha, tuningN);
  return { estimate: pT - pC, se, lower: Math.max(-1, cs.lower), upper: Math.min(1, cs.upper) };
}

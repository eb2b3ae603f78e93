// P95 ≤ T as a rate (docs/statistics.md): P95 > T ⇔ q = share of requests slower than T > 5 %.
// Requests of one user are correlated, so the user is the unit: q̂ = Σslow / Σn is a ratio of
// per-user sums, and its variance comes from the delta method with per-user (cluster) sums — the
// fields of LatencyStats. The CS is the intersection of two parts at α/2 each (union bound):
//   - exact-conservative: Robbins' CS on Kish's effective sample n_eff = (Σn)² / Σn², i.e. as if
//     every user's requests were all alike (the worst intra-user correlation). It is exact when
//     users are equally active and needs no variance estimate, so it carries the small-n phase;
//   - asymptotic: the GrowthBook/Eppo CS with the cluster-robust variance, used once there are
//     enough users and slow and fast requests for the CLT; it carries the large-n phase.

import type { LatencyStats } from '../../events/cohort-stats.js';
import { meanCs } from './asymptotic-cs.js';
import { robbinsInterval, thresholdPrior, type Interval } from './robbins-cs.js';

/** P95 ≤ T ⇔ at most this share of requests is slower than T. */
export const P95_EXCEEDANCE_SHARE = 0.05;
/** Smallest exceedance increase worth detecting (5 % → 6 %), for the exact part's prior. */
export const EXCEEDANCE_MIN_EFFECT = 0.01;
export const CLUSTER_MIN_USERS = 100;
export const CLUSTER_MIN_REQUESTS_EACH_SIDE = 10;

export type ClusteredCounts = Omit<LatencyStats, 'histogram'>;

export interface ClusteredRatio {
  estimate: number;
  /** Delta-method (linearisation) variance of Σslow/Σn with users as clusters. */
  variance: number;
  /** variance ÷ the variance if requests were independent; ≥ 1 is typical. */
  designEffect: number;
}

/**
 * R = Σy/Σx with per-user x = requests, y = slow requests; Σ(y_u − R·x_u) = 0, so
 * Var(R) ≈ m/(m−1) · (Σy² − 2RΣxy + R²Σx²) / (Σx)².
 */
export function clusteredRatio(c: ClusteredCounts): ClusteredRatio | null {
  if (c.users < 2 || c.count <= 0) return null;
  const r = c.slow / c.count;
  const residual = Math.max(c.sumSlow2 - 2 * r * c.sumNSlow + r * r * c.sumN2, 0);
  const variance = ((c.users / (c.users - 1)) * residual) / (c.count * c.count);
  const independent = (r * (1 - r)) / c.count;
  return { estimate: r, variance, designEffect: independent > 0 ? variance / independent : 1 };
}

/** Kish's effective sample size (Σn)²/Σn²: between 1 and the number of users. */
export function kishEffectiveSize(c: ClusteredCounts): number {
  return c.sumN2 > 0 ? (c.count * c.count) / c.sumN2 : c.count;
}

export interface ExceedanceCs extends Interval {
  estimate: number;
  method: 'exact' | 'exact+asymptotic';
}

const exceedancePrior = thresholdPrior(P95_EXCEEDANCE_SHARE, EXCEEDANCE_MIN_EFFECT);

export function asymptoticClusterUsable(c: ClusteredCounts): boolean {
  return (
    c.users >= CLUSTER_MIN_USERS &&
    c.slow >= CLUSTER_MIN_REQUESTS_EACH_SIDE &&
    c.count - c.slow >= CLUSTER_MIN_REQUESTS_EACH_SIDE
  );
}

export function exceedanceCs(c: ClusteredCounts, alpha: number, tuningN?: number): ExceedanceCs {
  if (c.count <= 0) return { estimate: 0, lower: 0, upper: 1, method: 'exact' };
  const estimate = c.slow / c.count;
  const nEff = kishEffectiveSize(c);
  const exact = robbinsInterval(estimate * nEff, nEff, alpha / 2, exceedancePrior);
  const ratio = clusteredRatio(c);
  if (!ratio || !asymptoticClusterUsable(c)) return { estimate, ...exact, method: 'exact' };
  // Floor at the independent-requests variance: a design effect below 1 estimated from few users
  // is more likely noise than real negative correlation, and a too-narrow CS would stick.
  const variance = Math.max(ratio.variance, (estimate * (1 - estimate)) / c.count);
  const asymptotic = meanCs(estimate, Math.sqrt(variance * c.users), c.users, alpha / 2, tuningN);
  return {
    estimate,
    lower: Math.max(exact.lower, asymptotic.lower),
    upper: Math.min(exact.upper, asymptotic.upper),
    method: 'exact+asymptotic',
  };
}

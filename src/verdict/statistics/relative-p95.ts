// Treatment-vs-control P95 guardrail (docs/statistics.md): each arm gets its own order-statistic
// CS at α/2, so by the union bound both cover their P95 at every time with probability ≥ 1 − α.
// FAIL iff LCB_T > (1 + δ)·UCB_C: even the most favourable P95s consistent with the data show
// more than the tolerated relative increase. PASS iff UCB_T ≤ (1 + δ)·LCB_C.
// Chosen over exceedance of the control's P95 because the aggregator only counts slow requests
// at the rule's absolute threshold; the histograms give any rank, at request level. The design
// effect per arm comes from the cluster-robust exceedance at the rule's threshold when there is
// enough data there, else Kish's worst case (all of a user's requests alike).

import { asymptoticClusterUsable, clusteredRatio, kishEffectiveSize, type ClusteredCounts } from './exceedance-cs.js';
import { quantileCs, type PercentileSource, type QuantileBounds } from './quantile-cs.js';

export type LatencyArm = ClusteredCounts & PercentileSource;

export const P95 = 0.95;

/** Design effect of the request-level rank statistics, from the user-level structure. */
export function latencyDesignEffect(arm: ClusteredCounts): number {
  const ratio = asymptoticClusterUsable(arm) ? clusteredRatio(arm) : null;
  if (ratio) return Math.max(1, ratio.designEffect);
  return Math.max(1, arm.count / kishEffectiveSize(arm));
}

export function p95Cs(arm: LatencyArm, alpha: number): QuantileBounds {
  return quantileCs(arm, P95, alpha, latencyDesignEffect(arm));
}

export interface RelativeP95Cs {
  treatment: QuantileBounds;
  control: QuantileBounds;
}

export function relativeP95Cs(treatment: LatencyArm, control: LatencyArm, alpha: number): RelativeP95Cs {
  return { treatment: p95Cs(treatment, alpha / 2), control: p95Cs(control, alpha / 2) };
}

/** 'fail' / 'pass' / null (undecided) for bounds that may be running intersections. */
export function relativeP95Decision(
  treatment: QuantileBounds,
  control: QuantileBounds,
  maxIncrease: number,
): 'fail' | 'pass' | null {
  const factor = 1 + maxIncrease;
  if (treatment.lower !== null && control.upper !== null && treatment.lower > factor * control.upper) return 'fail';
  if (treatment.upper !== null && control.lower !== null && treatment.upper <= factor * control.lower) return 'pass';
  return null;
}

// Order-statistic confidence sequence for a quantile (Howard & Ramdas 2022; docs/statistics.md):
// #{X_i ≤ x_p} is Binomial(N, p), so a time-uniform band (low, high) on that count (Robbins'
// beta-binomial boundary) turns into ranks k_lo = ⌊low⌋ + 1 and k_hi = ⌈high⌉ with
// x₍k_lo₎ ≤ x_p ≤ x₍k_hi₎ at every N simultaneously. Ranks map to histogram values through
// valueAtPercentile. Correlated requests of one user shrink the information, so the band is built
// on an effective size N / designEffect and rescaled to ranks among the N requests.

import { robbinsCountBounds, thresholdPrior } from './robbins-cs.js';

export interface PercentileSource {
  count: number;
  valueAtPercentile: (p: number) => number | null;
}

export interface QuantileBounds {
  /** null: the CS has no lower end yet (any value is plausible). */
  lower: number | null;
  /** null: the CS has no upper end yet. */
  upper: number | null;
}

/** Smallest shift of the quantile's level worth resolving (95 % → 94 %), for the prior. */
const QUANTILE_MIN_EFFECT = 0.01;

export interface RankBounds {
  kLow: number | null;
  kHigh: number | null;
}

export function quantileRanks(count: number, p: number, alpha: number, designEffect = 1): RankBounds {
  if (count <= 0) return { kLow: null, kHigh: null };
  const nEff = count / Math.max(designEffect, 1);
  const band = robbinsCountBounds(nEff, p, alpha, thresholdPrior(p, QUANTILE_MIN_EFFECT));
  const scale = count / nEff;
  const kLow = band.low === null ? null : Math.floor(band.low * scale) + 1;
  const kHigh = band.high === null ? null : Math.ceil(band.high * scale);
  return {
    kLow: kLow !== null && kLow >= 1 && kLow <= count ? kLow : null,
    kHigh: kHigh !== null && kHigh >= 1 && kHigh <= count ? kHigh : null,
  };
}

/**
 * Rank k → histogram value. HDR rounds p·N/100 up after subtracting one ulp; asking for the
 * middle of the rank's step (k − ½) lands on rank k whatever the floating-point error.
 * valueAtPercentile reports the top of a bucket, so a lower end can sit up to one bucket width
 * (< 1 % with 2 significant digits) above the true order statistic.
 */
function valueAtRank(source: PercentileSource, k: number): number | null {
  return source.valueAtPercentile((100 * (k - 0.5)) / source.count);
}

export function quantileCs(source: PercentileSource, p: number, alpha: number, designEffect = 1): QuantileBounds {
  const { kLow, kHigh } = quantileRanks(source.count, p, alpha, designEffect);
  return {
    lower: kLow === null ? null : valueAtRank(source, kLow),
    upper: kHigh === null ? null : valueAtRank(source, kHigh),
  };
}

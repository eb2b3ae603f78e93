// Sequential sample-ratio-mismatch test (Lindon & Malek 2022, arXiv:2011.03567; docs/statistics.md):
// the Dirichlet(c·p₀) mixture Bayes factor against the expected shares p₀ is a test martingale, so
// "SRM once BF ≥ 1/α_srm" has P(false alarm, ever) ≤ α_srm however often it is checked — unlike
// an hourly χ² (23× its nominal rate over 14 days in our simulation).

import { PmfError } from '../../core/errors.js';
import { lnGamma } from './ln-gamma.js';

/** GrowthBook's sequential SRM defaults. */
export const SRM_CONCENTRATION = 10_000;
export const SRM_ALPHA = 0.001;

/** ln BF = lnΓ(c) − lnΓ(c+N) + Σ_k [lnΓ(c·p₀ₖ + n_k) − lnΓ(c·p₀ₖ)] − Σ_k n_k·ln p₀ₖ. */
export function srmLogBayesFactor(counts: readonly number[], shares: readonly number[], concentration = SRM_CONCENTRATION): number {
  if (counts.length !== shares.length || counts.length < 2) {
    throw new PmfError('ERR_INTERNAL', `SRM needs matching counts and shares for at least 2 cohorts, got ${counts.length}/${shares.length}`);
  }
  const total = shares.reduce((s, x) => s + x, 0);
  let n = 0;
  let ln = 0;
  for (let k = 0; k < counts.length; k++) {
    const p = shares[k] / total;
    if (!(p > 0) || !(counts[k] >= 0)) {
      throw new PmfError('ERR_INTERNAL', `SRM needs positive shares and non-negative counts, got ${shares[k]}/${counts[k]}`);
    }
    n += counts[k];
    ln += lnGamma(concentration * p + counts[k]) - lnGamma(concentration * p) - (counts[k] === 0 ? 0 : counts[k] * Math.log(p));
  }
  return ln + lnGamma(concentration) - lnGamma(concentration + n);
}

export interface SrmCheck {
  /** Current Bayes factor against the expected shares. */
  bf: number;
  /** Always-valid p-value: min over all checks so far of 1/BF, so it never rises. */
  pValue: number;
  mismatch: boolean;
}

export function checkSrm(
  counts: readonly number[],
  shares: readonly number[],
  previousPValue: number | null,
  options: { alpha?: number; concentration?: number } = {},
): SrmCheck {
  const lnBf = srmLogBayesFactor(counts, shares, options.concentration ?? SRM_CONCENTRATION);
  const bf = Math.exp(lnBf);
  const pValue = Math.min(previousPValue ?? 1, Math.min(1, Math.exp(-lnBf)));
  return { bf, pValue, mismatch: pValue <= (options.alpha ?? SRM_ALPHA) };
}

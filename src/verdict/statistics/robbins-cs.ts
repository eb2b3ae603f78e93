// Exact always-valid confidence sequence for a Bernoulli rate: Robbins' beta-binomial mixture
// martingale (Howard et al. 2021, Prop. 6–7; reference/statistics.md §1.5). For any true p0,
// M_n(p0) = ∫ Π q^x (1−q)^(1−x) dBeta(a,b)(q) / Π p0^x (1−p0)^(1−x) is a nonnegative martingale
// with mean 1, so by Ville P(∃n: M_n(p0) ≥ 1/α) ≤ α: C_n = {p0 : ln M_n(p0) < ln(1/α)} covers p0
// at every n simultaneously, whatever the look schedule. Successes may be fractional (effective
// counts after a design-effect correction); the formula only needs ln B.

import { lnBeta } from './ln-gamma.js';

export interface BetaPrior {
  a: number;
  b: number;
}

export interface Interval {
  lower: number;
  upper: number;
}

/** Keeps the prior proper when a threshold sits at 0 or 1; the centre does not affect validity. */
const PRIOR_CENTRE_EPSILON = 1e-3;

/**
 * Beta(c·θ, c·(1−θ)) (statistics.md §6(a)): centred on the threshold, with concentration c chosen
 * so the prior SD √(θ(1−θ)/(c+1)) equals the smallest effect worth detecting. The mixture is then
 * tightest around the sample size at which such an effect becomes detectable.
 */
export function thresholdPrior(theta: number, minEffect: number): BetaPrior {
  const centre = Math.min(Math.max(theta, PRIOR_CENTRE_EPSILON), 1 - PRIOR_CENTRE_EPSILON);
  const c = Math.max((centre * (1 - centre)) / (minEffect * minEffect) - 1, 1);
  return { a: c * centre, b: c * (1 - centre) };
}

/** x·ln(y) with the convention 0·ln 0 = 0 (no successes and p0 = 0 is not evidence against p0). */
function xLogY(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}

/** ln M_n(p0) = ln B(a+S, b+n−S) − ln B(a, b) − S ln p0 − (n−S) ln(1−p0). */
export function robbinsLogMixture(successes: number, n: number, p0: number, prior: BetaPrior): number {
  return mixtureConstant(successes, n, prior) - xLogY(successes, p0) - xLogY(n - successes, 1 - p0);
}

function mixtureConstant(successes: number, n: number, prior: BetaPrior): number {
  return lnBeta(prior.a + successes, prior.b + n - successes) - lnBeta(prior.a, prior.b);
}

/**
 * Where the CS lies relative to θ: 'below' when it excludes θ and p̂ < θ (the whole CS is below),
 * 'above' when it excludes θ and p̂ > θ, null while θ is still plausible. The CS is an interval
 * around p̂ because ln M_n(p0) is convex in p0 and ln M_n(p̂) ≤ 0 < ln(1/α).
 */
export function robbinsExcludes(
  successes: number,
  n: number,
  theta: number,
  alpha: number,
  prior: BetaPrior,
): 'below' | 'above' | null {
  if (n <= 0) return null;
  if (robbinsLogMixture(successes, n, theta, prior) < Math.log(1 / alpha)) return null;
  const estimate = successes / n;
  if (estimate < theta) return 'below';
  if (estimate > theta) return 'above';
  return null;
}

/** The rate is credibly below θ at level α (the "rate ≥ θ" guard fails). */
export function failsBelow(successes: number, n: number, theta: number, alpha: number, prior: BetaPrior): boolean {
  return robbinsExcludes(successes, n, theta, alpha, prior) === 'below';
}

/** The rate is credibly above θ at level α (the "rate ≥ θ" guard passes). */
export function passesAbove(successes: number, n: number, theta: number, alpha: number, prior: BetaPrior): boolean {
  return robbinsExcludes(successes, n, theta, alpha, prior) === 'above';
}

const BISECTION_STEPS = 42;

/**
 * The CS [L, U] at level α, by bisection on p0 on each side of p̂ (42 halvings: < 1e-12, far
 * below any reported digit). Ends are rounded outwards, so the interval never shrinks by bisection.
 * Using both endpoints of one CS is still level α: they come from the same martingale family.
 */
export function robbinsInterval(successes: number, n: number, alpha: number, prior: BetaPrior): Interval {
  if (n <= 0) return { lower: 0, upper: 1 };
  const k = mixtureConstant(successes, n, prior);
  const bound = Math.log(1 / alpha);
  const failures = n - successes;
  const outside = (p0: number) => k - xLogY(successes, p0) - xLogY(failures, 1 - p0) >= bound;
  const estimate = successes / n;
  let lower = 0;
  if (successes > 0 && outside(0)) {
    let lo = 0;
    let hi = estimate;
    for (let i = 0; i < BISECTION_STEPS; i++) {
      const mid = (lo + hi) / 2;
      if (outside(mid)) lo = mid;
      else hi = mid;
    }
    lower = lo;
  }
  let upper = 1;
  if (failures > 0 && outside(1)) {
    let lo = estimate;
    let hi = 1;
    for (let i = 0; i < BISECTION_STEPS; i++) {
      const mid = (lo + hi) / 2;
      if (outside(mid)) hi = mid;
      else lo = mid;
    }
    upper = hi;
  }
  return { lower, upper };
}

/**
 * For a known rate p, the counts S that the CS keeps plausible after n trials: the open interval
 * (low, high) of S with ln M_n(p; S) < ln(1/α) — null where it reaches 0 or n. Time-uniformly,
 * #{successes} stays inside it with probability ≥ 1 − α: this is the rank boundary of the
 * order-statistic quantile CS (Howard & Ramdas 2022). ln M_n(p; S) is convex in S (ln B is).
 */
export function robbinsCountBounds(
  n: number,
  p: number,
  alpha: number,
  prior: BetaPrior,
): { low: number | null; high: number | null } {
  if (n <= 0) return { low: null, high: null };
  const bound = Math.log(1 / alpha);
  const lnP = Math.log(p);
  const lnQ = Math.log(1 - p);
  const base = lnBeta(prior.a, prior.b);
  const outside = (s: number) => lnBeta(prior.a + s, prior.b + n - s) - base - s * lnP - (n - s) * lnQ >= bound;
  const centre = n * p;
  let low: number | null = null;
  if (outside(0)) {
    let lo = 0;
    let hi = centre;
    // Ranks only need integer precision: stop at a width of 1/64 of a count.
    while (hi - lo > 1 / 64) {
      const mid = (lo + hi) / 2;
      if (outside(mid)) lo = mid;
      else hi = mid;
    }
    low = lo;
  }
  let high: number | null = null;
  if (outside(n)) {
    let lo = centre;
    let hi = n;
    while (hi - lo > 1 / 64) {
      const mid = (lo + hi) / 2;
      if (outside(mid)) hi = mid;
      else lo = mid;
    }
    high = hi;
  }
  return { low, high };
}

// The product-limit test of the activation guardrail (docs/statistics.md, "Product-limit
// activation"): each arm's rate of activating within the window W is estimated from young users
// too, with one landmark a inside the window (a Kaplan–Meier estimate on two intervals):
//
//   p(W) = p(a) + (1 − p(a))·h
//
// p(a) is the share activated by a among every user older than a; h the share of the users not
// activated by a who activate later within W, among the users whose window has closed. Its one
// assumption is stationarity: h does not depend on when in the run a user was exposed. A treatment
// that only delays activation raises its arm's h and leaves p(W) alone, so it is not a regression
// here. p_T(W) − p_C(W) is estimated stratified by evaluation step, with a delta-method
// variance, and the guard's null p_T − p_C ≥ −δ is
// tested at every evaluation with the one-sided normal-mixture boundary of an asymptotic
// confidence sequence (Robbins; Waudby-Smith et al. 2021).

/** One arm's cumulative counts, as the cohort stats carry them. */
export interface ProductLimitCounts {
  /** Users older than the landmark, and of them the ones activated by it. */
  reached: number;
  early: number;
  /** Matured users (window closed), their activations, and of them the ones activated by the landmark. */
  matured: number;
  successes: number;
  maturedEarly: number;
}

export interface ProductLimitEstimate {
  rate: number;
  variance: number;
}

/**
 * Users not activated by the landmark whose window has closed, per arm, before the test speaks:
 * h and its variance come from them, and the normal approximation is poor on a handful of late
 * activations (h ≈ 5 % in the simulation, so about 10 at this count; the midpoint variance of
 * stepProductLimit keeps that from tilting towards false alarms). Fixed, never a function of outcomes.
 */
export const MIN_LATE_USERS = 200;

/**
 * Scale of the mixture over the drift (ρ, in rate units): the boundary is tightest for effects
 * near this size at the information where they are decided. 3 pts is the project's smallest
 * activation effect worth acting on (the bets of the matured detector go from 0.5 to 20 pts).
 */
export const MIXTURE_RHO = 0.03;

/** ln Φ(x), Φ the standard normal distribution function (Abramowitz & Stegun 26.2.17; tail asymptotics below −8). */
export function logNormalCdf(x: number): number {
  if (x < -8) return -0.5 * x * x - Math.log(-x) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / (x * x));
  const z = Math.abs(x);
  const t = 1 / (1 + 0.2316419 * z);
  const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  const upper = (Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI)) * poly;
  return x >= 0 ? Math.log1p(-upper) : Math.log(upper);
}

/**
 * ln of the one-sided normal-mixture statistic for a score S with information I (S ~ N(μI, I),
 * μ ≥ 0 the drift against the null), the mixing density half-normal with scale ρ:
 *
 *   M = ∫₀^∞ exp(λS − λ²I/2) 2φ(λ/ρ)/ρ dλ = 2 (1 + Iρ²)^(−1/2) exp(ρ²S² / (2(1 + Iρ²))) Φ(ρS / √(1 + Iρ²)).
 *
 * For a Brownian motion with drift ≤ 0, M is a nonnegative supermartingale in I with M₀ = 1, so
 * P(sup M ≥ 1/α) ≤ α (Ville).
 */
export function halfNormalMixtureLogE(score: number, information: number, rho: number = MIXTURE_RHO): number {
  const v = 1 + information * rho * rho;
  return Math.log(2) - 0.5 * Math.log(v) + (rho * rho * score * score) / (2 * v) + logNormalCdf((rho * score) / Math.sqrt(v));
}

/**
 * What the test keeps between evaluations: per arm the counts it has used, [reached, early, late,
 * late successes] (late = matured and not activated by the landmark), treatment then control; and
 * per part (early, then late) the stratified sums W = Σ w_s, D = Σ w_s (r_T,s − r_C,s),
 * Q_T = Σ w_s² / n_T,s, Q_C = Σ w_s² / n_C,s over the steps s, w_s = n_T,s·n_C,s / (n_T,s + n_C,s).
 */
export interface ProductLimitState {
  used: number[];
  sums: number[];
}

export function newProductLimitState(): ProductLimitState {
  return { used: new Array<number>(8).fill(0), sums: new Array<number>(8).fill(0) };
}

export function isProductLimitState(x: unknown): x is ProductLimitState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  return Array.isArray(s.used) && s.used.length === 8 && Array.isArray(s.sums) && s.sums.length === 8;
}

export interface ProductLimitTest {
  treatment: ProductLimitEstimate;
  control: ProductLimitEstimate;
  /** The stratified estimate of p_T(W) − p_C(W) and its variance. */
  difference: ProductLimitEstimate;
  /** ln M of the guard's null p_T − p_C ≥ −δ (large when the treatment is worse by more than δ). */
  logValue: number;
}

function armCounts(c: ProductLimitCounts): number[] {
  return [c.reached, c.early, c.matured - c.maturedEarly, c.successes - c.maturedEarly];
}

/**
 * Adds the new users of one part to the stratified sums when both arms have some; otherwise they
 * wait for the next step (an arm whose data comes late is compared with the other arm's data of
 * the step it arrives in). Counts that went backwards (a reset source) re-base the part.
 */
function addPart(state: ProductLimitState, part: 0 | 1, t: number[], c: number[]): void {
  const i = 2 * part;
  const u = state.used;
  const nT = t[i] - u[i];
  const sT = t[i + 1] - u[i + 1];
  const nC = c[i] - u[4 + i];
  const sC = c[i + 1] - u[4 + i + 1];
  if (nT < 0 || sT < 0 || nC < 0 || sC < 0 || sT > nT || sC > nC) {
    u[i] = t[i];
    u[i + 1] = t[i + 1];
    u[4 + i] = c[i];
    u[4 + i + 1] = c[i + 1];
    return;
  }
  if (nT === 0 || nC === 0) return;
  const w = (nT * nC) / (nT + nC);
  const q = state.sums;
  q[4 * part] += w;
  q[4 * part + 1] += w * (sT / nT - sC / nC);
  q[4 * part + 2] += (w * w) / nT;
  q[4 * part + 3] += (w * w) / nC;
  u[i] = t[i];
  u[i + 1] = t[i + 1];
  u[4 + i] = c[i];
  u[4 + i + 1] = c[i + 1];
}

/** A share pulled half a user towards ½, for variances (a share of 0 or 1 on few users is not certain). */
const soft = (hits: number, n: number) => (hits + 0.5) / (n + 1);

/**
 * One evaluation: adds the step's new users (mutates `state`) and tests the guard's null on
 * everything used so far; null while either arm has fewer than MIN_LATE_USERS late users.
 *
 * The difference is estimated stratified by evaluation step, so a change of allocation during a
 * drift that hits both arms alike does not tilt it: with the arms' midpoints p̄(a), h̄,
 *
 *   p_T(W) − p_C(W) = (1 − h̄)·(p_T(a) − p_C(a)) + (1 − p̄(a))·(h_T − h_C)   (exact, the form is bilinear),
 *
 * each arm difference being a weighted mean of per-step differences (weights w_s).
 */
export function stepProductLimit(state: ProductLimitState, treatment: ProductLimitCounts, control: ProductLimitCounts, maxDrop: number): ProductLimitTest | null {
  const t = armCounts(treatment);
  const c = armCounts(control);
  addPart(state, 0, t, c);
  addPart(state, 1, t, c);
  const [rT, eT, lT, lsT, rC, eC, lC, lsC] = state.used;
  const [wA, dA, qTA, qCA, wH, dH, qTH, qCH] = state.sums;
  if (lT < MIN_LATE_USERS || lC < MIN_LATE_USERS || wA <= 0 || wH <= 0) return null;
  const arm = (reached: number, early: number, late: number, lateHits: number): ProductLimitEstimate => {
    const pa = early / reached;
    const h = lateHits / late;
    const sa = soft(early, reached);
    const sh = soft(lateHits, late);
    return { rate: pa + (1 - pa) * h, variance: ((1 - sh) ** 2 * sa * (1 - sa)) / reached + ((1 - sa) ** 2 * sh * (1 - sh)) / late };
  };
  const tr = arm(rT, eT, lT, lsT);
  const co = arm(rC, eC, lC, lsC);
  const saT = soft(eT, rT);
  const saC = soft(eC, rC);
  const shT = soft(lsT, lT);
  const shC = soft(lsC, lC);
  const hBar = (shT + shC) / 2;
  const aBar = (saT + saC) / 2;
  const estimate = ((1 - hBar) * dA) / wA + ((1 - aBar) * dH) / wH;
  // Variances at the arms' midpoints, not each arm's own share: an arm whose few late activations
  // came out low by chance would otherwise also claim a small variance, and the two errors add up
  // to false alarms while late activations are few (h is a small share, ~5 % in the simulation).
  // x(1 − x) is concave, so the midpoint never understates the sum of the arms' variances.
  const variance =
    ((1 - hBar) ** 2 * aBar * (1 - aBar) * (qTA + qCA)) / (wA * wA) +
    ((1 - aBar) ** 2 * hBar * (1 - hBar) * (qTH + qCH)) / (wH * wH);
  const information = 1 / variance;
  // S = −(Δ̂ + δ)·I: mean −(Δ + δ)·I ≤ 0 under the null, variance I.
  const score = -(estimate + maxDrop) * information;
  return { treatment: tr, control: co, difference: { rate: estimate, variance }, logValue: halfNormalMixtureLogE(score, information) };
}

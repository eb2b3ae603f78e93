// The mixture Shiryaev–Roberts e-detector of one guard (docs/statistics.md). Every evaluation step
// brings, for each of K bets, an e-value e_k (ln e_k in `logE`): a number whose expectation under the
// guard's null, given everything before the step, is at most 1. The detector bets on a change at
// any earlier step at once:
//
//   D_t = (1/K) Σ_k [ w₀ · Π_{s≤t} e_k,s  +  Σ_j w_j · Π_{j<s≤t} e_k,s ]
//
// w₀ is the weight of "bad since the first exposure", w_j of "bad since step j" (proportional to
// the event time step j covers, so Σ w ≤ 1 over maxDurationSeconds whatever the step lengths). D
// is a nonnegative supermartingale under the null with D₀ ≤ 1, so Ville's inequality gives
// P(D_t ≥ 1/α_g at any t) ≤ α_g: the guard may be checked at every step for free. The inner sum
// obeys the Shiryaev–Roberts recursion A_t = (A_{t−1} + w_t)·e_t, so the state is O(K), not
// O(steps). Everything is kept in logs (products over weeks overflow a double).
//
// Alongside, a CUSUM per bet (the largest product over starts, with the start it came from) says
// when the regression began: the start of the run that carries the evidence, and the counts since.

/** ln 0 in JSON-safe form: −Infinity would serialise as null. */
export const LOG_ZERO = -1e300;

/** Weight of "bad since the first exposure"; the rest is spread over later starts. */
export const EXPOSURE_WEIGHT = 0.5;

export interface DetectorState {
  /** ln Π e since the first exposure, per bet. */
  b: number[];
  /** ln of the Shiryaev–Roberts sum over later starts, per bet. */
  a: number[];
  /** CUSUM: ln of the largest product over starts, per bet. */
  c: number[];
  /** Event time (ms) the CUSUM run of each bet started at. */
  since: number[];
  /** Counts accumulated over each bet's CUSUM run (what the guard shows as "since then"), bet k at k·perBet. */
  sums: number[];
}

export function newDetector(bets: number, sumsPerBet: number): DetectorState {
  return {
    b: new Array<number>(bets).fill(0),
    a: new Array<number>(bets).fill(LOG_ZERO),
    c: new Array<number>(bets).fill(0),
    since: new Array<number>(bets).fill(0),
    sums: new Array<number>(bets * sumsPerBet).fill(0),
  };
}

function sized(v: unknown, length: number): boolean {
  return Array.isArray(v) && v.length === length;
}

/** Shape check (array lengths) of a state this module wrote and JSON restored. */
export function isDetectorState(x: unknown, bets: number, sumsPerBet: number): x is DetectorState {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return sized(d.b, bets) && sized(d.a, bets) && sized(d.c, bets) && sized(d.since, bets) && sized(d.sums, bets * sumsPerBet);
}

export function copyDetector(d: DetectorState): DetectorState {
  return { b: d.b.slice(), a: d.a.slice(), c: d.c.slice(), since: d.since.slice(), sums: d.sums.slice() };
}

function logAddExp(x: number, y: number): number {
  if (x === LOG_ZERO) return y;
  if (y === LOG_ZERO) return x;
  return x > y ? x + Math.log1p(Math.exp(y - x)) : y + Math.log1p(Math.exp(x - y));
}

export interface DetectorStep {
  /** ln e-value of this step for each bet. */
  logE: ArrayLike<number>;
  /** Weight of the start at the beginning of this step (0 on the first step: that is w₀'s). */
  startWeight: number;
  /** Event time the step's data begins at (the previous evaluation, or the first exposure). */
  stepStart: number;
  /** The step's counts, added to each bet's run (same order as DetectorState.sums). */
  counts: ArrayLike<number>;
}

export interface DetectorReading {
  /** ln D_t. */
  logValue: number;
  /** The bet that carries most of D_t: its run start is the estimated onset. */
  leading: number;
}

/** The counts of bet k's run. */
export function runSums(d: DetectorState, k: number): number[] {
  const per = d.sums.length / d.b.length;
  return d.sums.slice(k * per, (k + 1) * per);
}

let scratch = new Float64Array(8);

/** Advances the detector by one step (mutates `d`) and returns ln D_t. */
export function updateDetector(d: DetectorState, step: DetectorStep): DetectorReading {
  const k = d.b.length;
  const per = d.sums.length / k;
  const logW0 = Math.log(EXPOSURE_WEIGHT);
  const logWj = step.startWeight > 0 ? Math.log(step.startWeight) : LOG_ZERO;
  const components = scratch.length >= k ? scratch : (scratch = new Float64Array(k));
  let leading = 0;
  for (let i = 0; i < k; i++) {
    const e = step.logE[i];
    d.b[i] += e;
    if (logWj !== LOG_ZERO || d.a[i] !== LOG_ZERO) d.a[i] = logAddExp(d.a[i], logWj) + e;
    if (d.c[i] <= 0) {
      d.c[i] = e;
      d.since[i] = step.stepStart;
      for (let j = 0; j < per; j++) d.sums[i * per + j] = step.counts[j];
    } else {
      d.c[i] += e;
      for (let j = 0; j < per; j++) d.sums[i * per + j] += step.counts[j];
    }
    components[i] = logAddExp(logW0 + d.b[i], d.a[i]);
    if (components[i] > components[leading]) leading = i;
  }
  // ln Σ_k exp(component_k), around the largest.
  const top = components[leading];
  let sum = 0;
  for (let i = 0; i < k; i++) sum += Math.exp(components[i] - top);
  const total = top + Math.log(sum);
  return { logValue: total - Math.log(k), leading };
}

/** ψ(λ) = −ln(1 − λ) − λ of Fan et al.'s inequality exp(λξ − ψ(λ)ξ²) ≤ 1 + λξ for ξ ≥ −1, λ ∈ [0, 1). */
export function fanPsi(lambda: number): number {
  return -Math.log1p(-lambda) - lambda;
}

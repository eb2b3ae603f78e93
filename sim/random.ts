// Seeded randomness for the simulation: sfc32 (fast, 128-bit state, passes PractRand to 2^60),
// exact binomial and multinomial draws, and the normal quantile and CDF. Same seed,
// same numbers, on every machine.

import { lnGamma } from '../src/verdict/statistics/ln-gamma.js';

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 spreads a small integer seed over the whole state.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }

  /**
   * Exact Binomial(n, p) by inversion, searching outward from the mode (Kemp's chop-down): the
   * cost grows with the standard deviation, not with n.
   */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const q = 1 - p;
    const mode = Math.min(n, Math.floor((n + 1) * p));
    const pMode = Math.exp(lnGamma(n + 1) - lnGamma(mode + 1) - lnGamma(n - mode + 1) + mode * Math.log(p) + (n - mode) * Math.log(q));
    let u = this.uniform();
    if (u < pMode) return mode;
    u -= pMode;
    let lo = mode;
    let hi = mode;
    let pLo = pMode;
    let pHi = pMode;
    const ratio = p / q;
    while (lo > 0 || hi < n) {
      if (hi < n) {
        pHi *= ((n - hi) / (hi + 1)) * ratio;
        hi++;
        if (u < pHi) return hi;
        u -= pHi;
      }
      if (lo > 0) {
        pLo *= (lo / (n - lo + 1)) / ratio;
        lo--;
        if (u < pLo) return lo;
        u -= pLo;
      }
    }
    return mode; // only reachable through rounding of a remaining mass below ~1e-15
  }

  /** Multinomial(n, probs) by conditional binomials; probs need not be normalised. */
  multinomial(n: number, probs: readonly number[], out: Int32Array): Int32Array {
    let remaining = n;
    let mass = probs.reduce((s, x) => s + x, 0);
    for (let k = 0; k < probs.length; k++) {
      if (k === probs.length - 1) {
        out[k] = remaining;
        break;
      }
      const draw = remaining > 0 && mass > 0 ? this.binomial(remaining, Math.min(1, probs[k] / mass)) : 0;
      out[k] = draw;
      remaining -= draw;
      mass -= probs[k];
    }
    return out;
  }
}

/** Standard normal quantile (Acklam; relative error < 1.2e-9). */
export function normalQuantile(u: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (u < low) {
    const q = Math.sqrt(-2 * Math.log(u));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (u > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - u));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const q = u - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Standard normal CDF via erfc. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc (Chebyshev), relative error < 1.2e-7: plenty for scenario settings.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

// Lognormal request latencies with a given P95, drawn per tick as aggregated counts: the number of
// slow requests (> the rule's threshold T) comes from the user-level model, and only the values
// the P95 statistics can see (the top 10 %) are drawn one by one; the rest is one lumped bucket.
// Values come from equal-probability cells (midpoint quantiles), so a draw is one uniform integer.

import type { BucketLayout } from './bucketed-latencies.js';
import { normalCdf, normalQuantile, type Random } from './random.js';

const Z95 = normalQuantile(0.95);
/** Requests below this quantile are recorded as one lump at the median: no CS ever reaches it. */
const FLOOR_QUANTILE = 0.9;
const CELLS = 4096;

export interface LatencyDistribution {
  p95: number;
  /** Lognormal shape; 0.668 gives P95/P50 = 3. */
  sigma: number;
}

export class LatencyModel {
  /** P(latency > threshold). */
  readonly exceedance: number;
  /** P(floor < latency ≤ threshold | latency ≤ threshold). */
  readonly midShareOfFast: number;
  readonly lumpValue: number;
  readonly mid: Float64Array;
  readonly slow: Float64Array;
  private lumpOrdinal = -1;
  private midOrdinals = new Int32Array(0);
  private slowOrdinals = new Int32Array(0);

  constructor(dist: LatencyDistribution, threshold: number) {
    const mu = Math.log(dist.p95) - Z95 * dist.sigma;
    const quantile = (u: number) => Math.exp(mu + dist.sigma * normalQuantile(u));
    const uT = normalCdf((Math.log(threshold) - mu) / dist.sigma);
    this.exceedance = 1 - uT;
    const uFloor = Math.min(FLOOR_QUANTILE, uT);
    this.midShareOfFast = uT > 0 ? (uT - uFloor) / uT : 0;
    this.lumpValue = Math.ceil(quantile(0.5));
    this.mid = new Float64Array(CELLS);
    this.slow = new Float64Array(CELLS);
    for (let i = 0; i < CELLS; i++) {
      // Cells never straddle T: a "slow" draw records a value > T and a fast one ≤ T (T integer).
      this.mid[i] = Math.min(Math.ceil(quantile(uFloor + ((i + 0.5) / CELLS) * (uT - uFloor))), threshold);
      this.slow[i] = Math.max(Math.ceil(quantile(uT + ((i + 0.5) / CELLS) * (1 - uT))), threshold + 1);
    }
  }

  /** Every value this model can record. */
  *values(): IterableIterator<number> {
    yield this.lumpValue;
    yield* this.mid;
    yield* this.slow;
  }

  /** Precomputes each cell's histogram bucket; needed before record(). */
  useLayout(layout: BucketLayout): void {
    this.lumpOrdinal = layout.ordinal(this.lumpValue);
    this.midOrdinals = Int32Array.from(this.mid, (v) => layout.ordinal(v));
    this.slowOrdinals = Int32Array.from(this.slow, (v) => layout.ordinal(v));
  }

  /** Records `fast` requests ≤ T and `slow` requests > T as (bucket ordinal, count). */
  record(random: Random, fast: number, slow: number, add: (ordinal: number, count: number) => void): void {
    const mid = random.binomial(fast, this.midShareOfFast);
    if (fast - mid > 0) add(this.lumpOrdinal, fast - mid);
    // CELLS = 2^12: the top 12 bits of one 32-bit draw pick a cell uniformly.
    for (let i = 0; i < mid; i++) add(this.midOrdinals[random.uint32() >>> 20], 1);
    for (let i = 0; i < slow; i++) add(this.slowOrdinals[random.uint32() >>> 20], 1);
  }
}

// The simulation's latency histogram: counts per HDR bucket of our real LatencyHistogram layout,
// but only for the finite set of values the latency model can emit, with percentiles answered by
// binary search. LatencyHistogram scans its dense counts array on every valueAtPercentile call,
// which dominated the simulation time. Same answers, bit for bit:
// test/unit/statistics/simulation-harness.test.ts records the same values into both and compares.

import { LatencyHistogram } from '../src/events/latency-histogram.js';

/** Bucket layout shared by all cohorts of a scenario: value → bucket ordinal, ordinal → top value. */
export class BucketLayout {
  private readonly reference = new LatencyHistogram();
  private readonly ordinalOf = new Map<number, number>();
  readonly lowest: number[] = [];
  readonly highest: number[] = [];

  /** All values the model can record, so the ordinals are in ascending value order. */
  constructor(values: Iterable<number>) {
    const lows = new Set<number>();
    for (const v of values) lows.add(this.reference.lowestEquivalentValue(v));
    for (const low of [...lows].sort((a, b) => a - b)) {
      this.ordinalOf.set(low, this.lowest.length);
      this.lowest.push(low);
      this.highest.push(this.reference.highestEquivalentValue(low));
    }
  }

  ordinal(value: number): number {
    const o = this.ordinalOf.get(this.reference.lowestEquivalentValue(value));
    if (o === undefined) throw new Error(`value ${value} is not in the simulation's bucket layout`);
    return o;
  }

  get size(): number {
    return this.lowest.length;
  }
}

export class BucketedLatencies {
  private readonly counts: Float64Array;
  private total = 0;

  constructor(readonly layout: BucketLayout) {
    this.counts = new Float64Array(layout.size);
  }

  add(ordinal: number, count: number): void {
    this.counts[ordinal] += count;
    this.total += count;
  }

  get count(): number {
    return this.total;
  }

  /** LatencyHistogram.valueAtPercentile over the current counts (a frozen copy of them). */
  percentiles(): (percentile: number) => number {
    return this.frozen().valueAt;
  }

  /**
   * valueAtPercentile and countAbove (LatencyHistogram's: requests in buckets entirely above a
   * value) over a frozen copy of the current counts.
   */
  frozen(): { valueAt: (percentile: number) => number; countAbove: (value: number) => number } {
    const cumulative = new Float64Array(this.counts.length);
    let running = 0;
    for (let i = 0; i < this.counts.length; i++) cumulative[i] = running += this.counts[i];
    const total = this.total;
    const { lowest, highest } = this.layout;
    const valueAt = (percentile: number) => {
      if (total === 0) return 0;
      const fp = (Math.min(percentile, 100) / 100) * total;
      // hdr-histogram-js rounds up after subtracting one ulp of the floating-point count.
      const target = Math.max(Math.ceil(fp - Math.pow(2, Math.floor(Math.log2(fp)) - 52)), 1);
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid] >= target) hi = mid;
        else lo = mid + 1;
      }
      return percentile === 0 ? lowest[lo] : highest[lo];
    };
    const countAbove = (value: number) => {
      // First bucket whose lowest value is above `value`.
      let lo = 0;
      let hi = lowest.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (lowest[mid] > value) hi = mid;
        else lo = mid + 1;
      }
      return lo === 0 ? total : total - cumulative[lo - 1];
    };
    return { valueAt, countAbove };
  }
}

// The latency histogram and its serialized form, which is part of the wire format (the base64
// `histogram` of a cohort partial on the cohort-stats topic): the aggregator writes it, the
// verdict stage merges it. HDR-style in integer milliseconds. The bucket layout, getValueAtPercentile and
// mean follow hdr-histogram-js (its JsHistogram class) exactly, so our P95 equals hdr-histogram-js's
// on the same values and settings (test/unit/events/latency-histogram.test.ts checks this).
//
// Default significantDigits is 2: buckets are at most 1/128 of their value wide (< 0.8 % relative
// error, e.g. ±3.5 ms at 450 ms), the dense layout up to 1 h is 2,048 counters (16 KiB) instead of
// 13,312 with 3 digits, and the serialized form stays a few KB for realistic data — the 10 KB
// budget per histogram would be at risk with 3 digits. The guard's decisions (e.g. +450 ms at P95)
// do not need finer resolution; slow-request counts are exact anyway (counted on raw durations).

import { PmfError } from '../core/errors.js';
import { ByteReader } from '../core/byte-codec.js';

export interface LatencyHistogramSettings {
  lowestDiscernibleValue: number;
  highestTrackableValue: number;
  significantDigits: number;
}

export const DEFAULT_HISTOGRAM_SETTINGS: Readonly<LatencyHistogramSettings> = Object.freeze({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 3_600_000,
  significantDigits: 2,
});

const FORMAT_VERSION = 1;
const MAX_TRACKABLE = 0xffff_ffff; // the index math uses Math.clz32 and >>> on uint32 values

/** ulp as hdr-histogram-js computes it (its ulp function), including its behaviour at 0. */
function hdrUlp(x: number): number {
  return Math.pow(2, Math.floor(Math.log2(x)) - 52);
}

/** Shared by every histogram's serialize(): grown to the largest form seen, never shrunk. */
let scratch = Buffer.allocUnsafeSlow(4096);
/** mergeSerialized's (index, count) pairs: grown to the largest form seen. */
let mergeScratch = new Float64Array(512);

/** ByteWriter.varint (unsigned LEB128, exact up to 2^53 − 1) at `pos`; returns the position after. */
function putVarint(buf: Buffer, pos: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new PmfError('ERR_INTERNAL', `varint out of range: ${v}`);
  while (v >= 128) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

export class LatencyHistogram {
  readonly settings: Readonly<LatencyHistogramSettings>;
  private readonly unitMagnitude: number;
  private readonly subBucketHalfCountMagnitude: number;
  private readonly subBucketCount: number;
  private readonly subBucketHalfCount: number;
  private readonly subBucketMask: number;
  private readonly leadingZeroCountBase: number;
  /** Length of the dense layout that covers highestTrackableValue. */
  private readonly countsArrayLength: number;
  private readonly highest: number;
  /** Grown on demand: most cohorts never see values near one hour. */
  private counts: Float64Array = new Float64Array(0);
  private total = 0;
  private clamped = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = Number.NEGATIVE_INFINITY;
  /** toBase64() of the current counts; undefined once they change. */
  private base64: string | undefined;

  constructor(settings: Partial<LatencyHistogramSettings> = {}) {
    const s: LatencyHistogramSettings = { ...DEFAULT_HISTOGRAM_SETTINGS, ...settings };
    const { lowestDiscernibleValue: low, highestTrackableValue: high, significantDigits: d } = s;
    if (!Number.isSafeInteger(low) || low < 1) {
      throw new PmfError('ERR_CONFIG_INVALID', `histogram lowestDiscernibleValue must be an integer >= 1, got ${low}`);
    }
    if (!Number.isSafeInteger(high) || high < 2 * low || high > MAX_TRACKABLE) {
      throw new PmfError(
        'ERR_CONFIG_INVALID',
        `histogram highestTrackableValue must be an integer in [2 * lowestDiscernibleValue, ${MAX_TRACKABLE}], got ${high}`,
      );
    }
    if (!Number.isInteger(d) || d < 0 || d > 5) {
      throw new PmfError('ERR_CONFIG_INVALID', `histogram significantDigits must be an integer in [0, 5], got ${d}`);
    }
    this.settings = Object.freeze(s);
    this.highest = high;
    // Same derivation (and same floating-point functions) as JsHistogram.init.
    const largestValueWithSingleUnitResolution = 2 * Math.floor(Math.pow(10, d));
    this.unitMagnitude = Math.floor(Math.log2(low));
    const subBucketCountMagnitude = Math.ceil(Math.log2(largestValueWithSingleUnitResolution));
    this.subBucketHalfCountMagnitude = (subBucketCountMagnitude > 1 ? subBucketCountMagnitude : 1) - 1;
    this.subBucketCount = Math.pow(2, this.subBucketHalfCountMagnitude + 1);
    this.subBucketHalfCount = this.subBucketCount / 2;
    this.subBucketMask = (this.subBucketCount - 1) * Math.pow(2, this.unitMagnitude);
    this.leadingZeroCountBase = 31 - this.unitMagnitude - this.subBucketHalfCountMagnitude;
    let smallestUntrackable = this.subBucketCount * Math.pow(2, this.unitMagnitude);
    let bucketsNeeded = 1;
    while (smallestUntrackable <= high) {
      smallestUntrackable *= 2;
      bucketsNeeded++;
    }
    this.countsArrayLength = (bucketsNeeded + 1) * this.subBucketHalfCount;
  }

  /** Number of recorded values. */
  get count(): number {
    return this.total;
  }

  /** Memory held by the counts (the dense layout grows only as far as the largest value needs). */
  get approxBytes(): number {
    return this.counts.byteLength + 160;
  }

  /** Values that were above highestTrackableValue and recorded as highestTrackableValue. */
  get clampedCount(): number {
    return this.clamped;
  }

  /** Smallest recorded value (after rounding up and clamping); NaN when empty. Exact, not bucketed. */
  get min(): number {
    return this.total === 0 ? Number.NaN : this.minValue;
  }

  /** Largest recorded value (after rounding up and clamping); NaN when empty. Exact, not bucketed. */
  get max(): number {
    return this.total === 0 ? Number.NaN : this.maxValue;
  }

  /**
   * Records a duration in ms. Fractions round up (a 0.2 ms span counts as 1 ms, never as 0, so a
   * recorded value is never below the true one); values above highestTrackableValue are recorded as
   * highestTrackableValue and counted in clampedCount. Negative or non-finite values are a caller bug.
   */
  record(value: number, count = 1): void {
    let v = Math.ceil(value) + 0; // + 0 turns -0 into 0
    if (!(v >= 0) || v === Number.POSITIVE_INFINITY) {
      throw new PmfError('ERR_INTERNAL', `histogram value must be a finite number >= 0, got ${value}`);
    }
    if (count !== 1 && !(Number.isSafeInteger(count) && count > 0)) {
      throw new PmfError('ERR_INTERNAL', `histogram count must be a positive integer, got ${count}`);
    }
    if (v > this.highest) {
      v = this.highest;
      this.clamped += count;
    }
    // Java HdrHistogram's getBucketIndex: OR-ing the mask maps small values to bucket 0. For
    // v >= 2^31 the OR is negative and clz32 gives 0, which is still right for a uint32.
    const bucketIndex = this.leadingZeroCountBase - Math.clz32(v | this.subBucketMask);
    const index = bucketIndex * this.subBucketHalfCount + (v >>> (bucketIndex + this.unitMagnitude));
    if (index >= this.counts.length) this.grow(index);
    this.base64 = undefined;
    this.counts[index] += count;
    this.total += count;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  private grow(index: number): void {
    let size = Math.max(this.subBucketCount, this.counts.length * 2);
    while (size <= index) size *= 2;
    const next = new Float64Array(Math.min(size, this.countsArrayLength));
    next.set(this.counts);
    this.counts = next;
  }

  /** Adds other's counts; exact because both use the same bucket layout. */
  merge(other: LatencyHistogram): void {
    this.assertSameSettings(other);
    if (other.total === 0) return;
    this.base64 = undefined;
    if (other.counts.length > this.counts.length) this.grow(other.counts.length - 1);
    const oc = other.counts;
    for (let i = 0; i < oc.length; i++) {
      if (oc[i] !== 0) this.counts[i] += oc[i];
    }
    this.total += other.total;
    this.clamped += other.clamped;
    if (other.minValue < this.minValue) this.minValue = other.minValue;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
  }

  /**
   * merge(LatencyHistogram.deserialize(bytes)), with the same checks and errors, without building
   * the other histogram: the verdict stage merges every partition's histogram of every cohort at
   * every step. Read in full before anything is added, so a bad form changes nothing.
   */
  mergeSerialized(bytes: Uint8Array): void {
    const r = new ByteReader(bytes, 'latency histogram');
    const version = r.byte();
    if (version !== FORMAT_VERSION) throw r.fail(`unknown format version ${version}`);
    const s = this.settings;
    if (r.varint() !== s.lowestDiscernibleValue || r.varint() !== s.highestTrackableValue || r.byte() !== s.significantDigits) {
      this.merge(LatencyHistogram.deserialize(bytes)); // its error, whichever it is
      return;
    }
    const nonEmpty = r.varint();
    if (nonEmpty > this.countsArrayLength) throw r.fail(`${nonEmpty} buckets exceed the layout`);
    if (nonEmpty === 0) return r.expectEnd();
    const clamped = r.varint();
    const min = r.varint();
    const max = r.varint();
    if (mergeScratch.length < 2 * nonEmpty) mergeScratch = new Float64Array(Math.max(2 * nonEmpty, 2 * mergeScratch.length));
    let index = -1;
    let total = 0;
    for (let k = 0; k < nonEmpty; k++) {
      index += r.varint() + 1;
      const c = r.varint();
      if (index >= this.countsArrayLength || c === 0) throw r.fail(`bad bucket ${index} with count ${c}`);
      mergeScratch[2 * k] = index;
      mergeScratch[2 * k + 1] = c;
      total += c;
    }
    if (min > max || max > s.highestTrackableValue || clamped > total) throw r.fail('inconsistent min/max/clamped');
    r.expectEnd();
    this.base64 = undefined;
    if (index >= this.counts.length) this.grow(index);
    for (let k = 0; k < nonEmpty; k++) this.counts[mergeScratch[2 * k]] += mergeScratch[2 * k + 1];
    this.total += total;
    this.clamped += clamped;
    if (min < this.minValue) this.minValue = min;
    if (max > this.maxValue) this.maxValue = max;
  }

  private assertSameSettings(other: LatencyHistogram): void {
    const a = this.settings;
    const b = other.settings;
    if (
      a.lowestDiscernibleValue !== b.lowestDiscernibleValue ||
      a.highestTrackableValue !== b.highestTrackableValue ||
      a.significantDigits !== b.significantDigits
    ) {
      throw new PmfError('ERR_INTERNAL', `cannot merge histograms with different settings: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }

  /**
   * hdr-histogram-js getValueAtPercentile, to the bit: the highest value equivalent to the
   * nearest-rank value x₍⌈pN/100⌉₎ (p = 0: the lowest value equivalent to the smallest one);
   * 0 when empty. p above 100 is treated as 100.
   */
  valueAtPercentile(percentile: number): number {
    if (!(percentile >= 0)) {
      throw new PmfError('ERR_INTERNAL', `percentile must be >= 0, got ${percentile}`);
    }
    const requested = Math.min(percentile, 100);
    const fpCountAtPercentile = (requested / 100.0) * this.total;
    const countAtPercentile = Math.max(Math.ceil(fpCountAtPercentile - hdrUlp(fpCountAtPercentile)), 1);
    let running = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      running += counts[i];
      if (running >= countAtPercentile) {
        const valueAtIndex = this.valueFromIndex(i);
        return percentile === 0 ? this.lowestEquivalentValue(valueAtIndex) : this.highestEquivalentValue(valueAtIndex);
      }
    }
    return 0;
  }

  /** Mean as hdr-histogram-js computes it: each bucket weighted at its median equivalent value. */
  get mean(): number {
    if (this.total === 0) return 0;
    let sum = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] !== 0) sum += this.medianEquivalentValue(this.valueFromIndex(i)) * counts[i];
    }
    return sum / this.total;
  }

  /**
   * Number of recorded values in buckets that lie entirely above threshold, i.e. values certainly
   * greater than it. It equals the exact count of values > threshold when threshold is the top of
   * a bucket (highestEquivalentValue(threshold) === threshold, see isBucketTop); otherwise it is a
   * lower bound that misses the values of threshold's own bucket lying above threshold.
   */
  countAbove(threshold: number): number {
    if (threshold < 0) return this.total;
    const t = Math.floor(threshold);
    if (t >= this.highest) return 0;
    const firstAbove = this.countsIndex(this.highestEquivalentValue(t)) + 1;
    let n = 0;
    const counts = this.counts;
    for (let i = firstAbove; i < counts.length; i++) n += counts[i];
    return n;
  }

  /** True when threshold is the top of its bucket, so countAbove(threshold) is exact. */
  isBucketTop(threshold: number): boolean {
    return Number.isInteger(threshold) && threshold >= 0 && this.highestEquivalentValue(threshold) === threshold;
  }

  lowestEquivalentValue(value: number): number {
    const bucketIndex = this.bucketIndexOf(value);
    const subBucketIndex = Math.floor(value / Math.pow(2, bucketIndex + this.unitMagnitude));
    return subBucketIndex * Math.pow(2, bucketIndex + this.unitMagnitude);
  }

  highestEquivalentValue(value: number): number {
    return this.lowestEquivalentValue(value) + this.sizeOfEquivalentValueRange(value) - 1;
  }

  medianEquivalentValue(value: number): number {
    return this.lowestEquivalentValue(value) + Math.floor(this.sizeOfEquivalentValueRange(value) / 2);
  }

  sizeOfEquivalentValueRange(value: number): number {
    const bucketIndex = this.bucketIndexOf(value);
    const subBucketIndex = Math.floor(value / Math.pow(2, bucketIndex + this.unitMagnitude));
    return Math.pow(2, this.unitMagnitude + (subBucketIndex >= this.subBucketCount ? bucketIndex + 1 : bucketIndex));
  }

  /** Values in ascending bucket order: [lowestEquivalentValue, count] of every non-empty bucket. */
  *buckets(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] !== 0) yield [this.valueFromIndex(i), this.counts[i]];
    }
  }

  private bucketIndexOf(value: number): number {
    // Float version (no 32-bit limit) for the query helpers, which may see any threshold.
    return Math.max(Math.floor(Math.log2(value)) - this.subBucketHalfCountMagnitude - this.unitMagnitude, 0);
  }

  private countsIndex(value: number): number {
    const bucketIndex = this.bucketIndexOf(value);
    const subBucketIndex = Math.floor(value / Math.pow(2, bucketIndex + this.unitMagnitude));
    return bucketIndex * this.subBucketHalfCount + subBucketIndex;
  }

  private valueFromIndex(index: number): number {
    let bucketIndex = Math.floor(index / this.subBucketHalfCount) - 1;
    let subBucketIndex = (index % this.subBucketHalfCount) + this.subBucketHalfCount;
    if (bucketIndex < 0) {
      subBucketIndex -= this.subBucketHalfCount;
      bucketIndex = 0;
    }
    return subBucketIndex * Math.pow(2, bucketIndex + this.unitMagnitude);
  }

  /**
   * Compact form: settings, clamped count, min, max, then only the non-empty buckets as
   * (index gap, count) varint pairs (the ByteWriter varint). Realistic latency data is 1–4 KB; at
   * most ~5 bytes per non-empty bucket in any case. Encoded in one pass into a shared scratch
   * buffer: the aggregator serializes every cohort's histogram at every verdict step.
   */
  serialize(): Buffer {
    const len = this.encode();
    return Buffer.from(scratch.subarray(0, len));
  }

  /** Cached until the next record or merge: a cohort without new latencies costs nothing per step. */
  toBase64(): string {
    if (this.base64 === undefined) {
      const len = this.encode(); // first: it may replace scratch
      this.base64 = scratch.toString('base64', 0, len);
    }
    return this.base64;
  }

  /** Writes serialize()'s bytes to scratch; returns their length. */
  private encode(): number {
    const counts = this.counts;
    let nonEmpty = 0;
    for (let i = 0; i < counts.length; i++) if (counts[i] !== 0) nonEmpty++;
    // A varint is at most 8 bytes (values < 2^53).
    const bound = 2 + 8 * (6 + 2 * nonEmpty);
    if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(Math.max(bound, 2 * scratch.length));
    const s = this.settings;
    scratch[0] = FORMAT_VERSION;
    let pos = putVarint(scratch, 1, s.lowestDiscernibleValue);
    pos = putVarint(scratch, pos, s.highestTrackableValue);
    scratch[pos++] = s.significantDigits;
    pos = putVarint(scratch, pos, nonEmpty);
    if (nonEmpty === 0) return pos;
    pos = putVarint(scratch, putVarint(scratch, putVarint(scratch, pos, this.clamped), this.minValue), this.maxValue);
    let prev = -1;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] === 0) continue;
      pos = putVarint(scratch, putVarint(scratch, pos, i - prev - 1), counts[i]);
      prev = i;
    }
    return pos;
  }

  static deserialize(bytes: Uint8Array): LatencyHistogram {
    const r = new ByteReader(bytes, 'latency histogram');
    const version = r.byte();
    if (version !== FORMAT_VERSION) throw r.fail(`unknown format version ${version}`);
    const lowestDiscernibleValue = r.varint();
    const highestTrackableValue = r.varint();
    const significantDigits = r.byte();
    let h: LatencyHistogram;
    try {
      h = new LatencyHistogram({ lowestDiscernibleValue, highestTrackableValue, significantDigits });
    } catch (err) {
      throw new PmfError('ERR_STATE_CORRUPT', `latency histogram: invalid settings: ${(err as Error).message}`, { cause: err });
    }
    const nonEmpty = r.varint();
    if (nonEmpty > h.countsArrayLength) throw r.fail(`${nonEmpty} buckets exceed the layout`);
    if (nonEmpty > 0) {
      h.clamped = r.varint();
      h.minValue = r.varint();
      h.maxValue = r.varint();
      let index = -1;
      for (let k = 0; k < nonEmpty; k++) {
        index += r.varint() + 1;
        const c = r.varint();
        if (index >= h.countsArrayLength || c === 0) throw r.fail(`bad bucket ${index} with count ${c}`);
        if (index >= h.counts.length) h.grow(index);
        h.counts[index] = c;
        h.total += c;
      }
      if (h.minValue > h.maxValue || h.maxValue > highestTrackableValue || h.clamped > h.total) {
        throw r.fail('inconsistent min/max/clamped');
      }
    }
    r.expectEnd();
    return h;
  }

  static fromBase64(text: string): LatencyHistogram {
    return LatencyHistogram.deserialize(Buffer.from(text, 'base64'));
  }
}

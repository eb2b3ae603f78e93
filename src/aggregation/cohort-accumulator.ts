// Running statistics of one (feature, cohort) on one partition; becomes a CohortPartial.
// The early activation counts exist while the feature's rule sets a landmark (earlyAfterMs > 0):
// they are counts at that landmark only, so a different landmark starts them from zero
// (window-maturation.ts, alignEarlyLandmarks). Among them, the matured users who had activated by
// the landmark (earlyMaturedSuccesses) let the verdict engine form the product-limit estimate.
// It also keeps the latencies recorded since its last step capture (capture()), so a step
// snapshot that follows another in the same cohort-stats record carries only those
// (events/cohort-stats-codec.ts); past RECENT_CAP of them it sends the whole histogram instead.

import type { CohortPartial } from '../events/cohort-stats.js';
import type { CohortCapture } from '../events/cohort-stats-codec.js';
import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { LatencyHistogram, type LatencyHistogramSettings } from '../events/latency-histogram.js';

/** Latencies kept between two step captures; a cohort that records more sends its histogram whole. */
const RECENT_CAP = 512;

export class CohortAccumulator {
  firstExposureAt = Number.POSITIVE_INFINITY;
  exposed = 0;
  activationMatured = 0;
  activationSuccesses = 0;
  retentionMatured = 0;
  retentionSuccesses = 0;
  latencyCount = 0;
  latencySlow = 0;
  latencyUsers = 0;
  sumN2 = 0;
  sumSlow2 = 0;
  sumNSlow = 0;
  cohortSwitches = 0;
  /** The early activation landmark the counts below are at, ms; 0: the rule sets none. */
  earlyAfterMs = 0;
  earlyReached = 0;
  earlySuccesses = 0;
  /** Matured users who activated within the landmark; −1: unknown (restored from a state written before it was counted). */
  earlyMaturedSuccesses = 0;
  histogram: LatencyHistogram;
  /** Values recorded into the histogram since the last capture(), as it rounds them; null: more than RECENT_CAP. */
  private recent: number[] | null = [];

  constructor(
    readonly feature: string,
    readonly cohort: string,
    histogramSettings: Partial<LatencyHistogramSettings>,
    earlyAfterMs = 0,
  ) {
    this.histogram = new LatencyHistogram(histogramSettings);
    this.earlyAfterMs = earlyAfterMs;
  }

  /**
   * Early counts at another landmark (0: none) start from zero. The matured early successes stay
   * unknown for a cohort that already has users: those mature later without a known early
   * outcome, and counting them as not activated by the landmark would bias the share after it.
   */
  resetEarly(afterMs: number): void {
    this.earlyAfterMs = afterMs;
    this.earlyReached = 0;
    this.earlySuccesses = 0;
    this.earlyMaturedSuccesses = this.exposed > 0 ? -1 : 0;
  }

  /**
   * One request of a user who had `requestsBefore` requests (`slowBefore` slow) so far. The sums
   * over users of n², slow², n·slow are updated by their differences, so no per-snapshot pass over
   * users is needed.
   */
  recordRequest(durationMs: number, isSlow: boolean, requestsBefore: number, slowBefore: number): void {
    this.histogram.record(durationMs);
    if (this.recent !== null) {
      // The value the histogram records (fractions round up; anything above the top clamps alike).
      if (this.recent.length < RECENT_CAP) this.recent.push(Math.min(Math.ceil(durationMs) + 0, this.histogram.settings.highestTrackableValue + 1));
      else this.recent = null;
    }
    this.latencyCount++;
    if (requestsBefore === 0) this.latencyUsers++;
    this.sumN2 += 2 * requestsBefore + 1;
    if (isSlow) {
      this.latencySlow++;
      this.sumSlow2 += 2 * slowBefore + 1;
      this.sumNSlow += requestsBefore + slowBefore + 1;
    } else {
      this.sumNSlow += slowBefore;
    }
  }

  /** The cohort for a step snapshot; starts a new list of recent latencies. */
  capture(): CohortCapture {
    const recent = this.recent;
    this.recent = [];
    return {
      cohort: this.cohort,
      firstExposureAt: this.firstExposureAt,
      counts: [...this.counters(), this.earlyAfterMs, this.earlyReached, this.earlySuccesses, this.earlyMaturedSuccesses + 1],
      recent,
      histogram: this.histogram,
    };
  }

  toPartial(partition: number, offset: string, watermark: number): CohortPartial {
    return {
      feature: this.feature,
      cohort: this.cohort,
      partition,
      offset,
      watermark,
      firstExposureAt: this.firstExposureAt,
      exposed: this.exposed,
      activation:
        this.earlyAfterMs > 0
          ? {
              matured: this.activationMatured,
              successes: this.activationSuccesses,
              early:
                this.earlyMaturedSuccesses >= 0
                  ? { afterMs: this.earlyAfterMs, reached: this.earlyReached, successes: this.earlySuccesses, maturedSuccesses: this.earlyMaturedSuccesses }
                  : { afterMs: this.earlyAfterMs, reached: this.earlyReached, successes: this.earlySuccesses },
            }
          : { matured: this.activationMatured, successes: this.activationSuccesses },
      retention: { matured: this.retentionMatured, successes: this.retentionSuccesses },
      latency: {
        count: this.latencyCount,
        slow: this.latencySlow,
        users: this.latencyUsers,
        sumN2: this.sumN2,
        sumSlow2: this.sumSlow2,
        sumNSlow: this.sumNSlow,
        histogram: this.histogram.toBase64(),
      },
      cohortSwitches: this.cohortSwitches,
    };
  }

  write(w: ByteWriter): void {
    w.string(this.cohort).float64(this.firstExposureAt);
    for (const v of this.counters()) w.varint(v);
    w.bytes(this.histogram.serialize());
    w.varint(this.earlyAfterMs).varint(this.earlyReached).varint(this.earlySuccesses).varint(this.earlyMaturedSuccesses + 1);
  }

  /**
   * `withEarly` false: written before the early counts existed (then none, landmark 0);
   * `withMaturedEarly` false: before the matured early successes were counted (then unknown
   * until the landmark changes, and snapshots omit them).
   */
  static read(r: ByteReader, feature: string, histogramSettings: Partial<LatencyHistogramSettings>, withEarly: boolean, withMaturedEarly: boolean): CohortAccumulator {
    const c = new CohortAccumulator(feature, r.string(), histogramSettings);
    c.firstExposureAt = r.float64();
    c.exposed = r.varint();
    c.activationMatured = r.varint();
    c.activationSuccesses = r.varint();
    c.retentionMatured = r.varint();
    c.retentionSuccesses = r.varint();
    c.latencyCount = r.varint();
    c.latencySlow = r.varint();
    c.latencyUsers = r.varint();
    c.sumN2 = r.varint();
    c.sumSlow2 = r.varint();
    c.sumNSlow = r.varint();
    c.cohortSwitches = r.varint();
    c.histogram = LatencyHistogram.deserialize(r.bytes());
    if (withEarly) {
      c.earlyAfterMs = r.varint();
      c.earlyReached = r.varint();
      c.earlySuccesses = r.varint();
      c.earlyMaturedSuccesses = withMaturedEarly ? r.varint() - 1 : -1;
      if (c.earlySuccesses > c.earlyReached || (c.earlyAfterMs === 0 && c.earlyReached > 0) || c.earlyMaturedSuccesses > c.earlySuccesses) {
        throw r.fail(`bad early counts of cohort ${JSON.stringify(c.cohort)}`);
      }
    }
    return c;
  }

  private counters(): number[] {
    return [
      this.exposed,
      this.activationMatured,
      this.activationSuccesses,
      this.retentionMatured,
      this.retentionSuccesses,
      this.latencyCount,
      this.latencySlow,
      this.latencyUsers,
      this.sumN2,
      this.sumSlow2,
      this.sumNSlow,
      this.cohortSwitches,
    ];
  }
}

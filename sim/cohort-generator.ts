// One simulated cohort, advanced one tick (hour) at a time with aggregated counts: exposures, activation and retention outcomes that mature 24 h / 7 d after exposure, and
// clustered requests (each user's slow share varies, so requests of one user are correlated),
// counted in the buckets of our real HDR histogram layout. snapshot() gives the MergedCohortStats the evaluator reads.

import { lnBeta, lnGamma } from '../src/verdict/statistics/ln-gamma.js';
import type { MergedCohortStats } from '../src/verdict/cohort-evaluator.js';
import { BucketedLatencies, BucketLayout } from './bucketed-latencies.js';
import { LatencyModel, type LatencyDistribution } from './latency-model.js';
import type { Random } from './random.js';

export interface ArmTruth {
  activation: number;
  /** Mean time to activate of this arm's activators (ticks); default the shape's activationMeanTicks. */
  activationMeanTicks?: number;
  retention: number;
  latency: LatencyDistribution;
}

export interface TrafficShape {
  ticks: number;
  requestsPerUser: number;
  /** Intra-user correlation of "slow" between a user's requests (beta-binomial ICC). */
  slowCorrelation: number;
  activationDelayTicks: number;
  retentionDelayTicks: number;
  /**
   * When an activator activates: exponential with this mean (ticks), cut at the window. The cohort
   * stats then carry early counts at `activationEarlyTicks` (activation.early, with the matured
   * users activated by then); 0 = none.
   */
  activationMeanTicks: number;
  activationEarlyTicks: number;
  /**
   * Leave the early counts out of the snapshots (the draws stay the same): the activation
   * guardrail then runs on matured users alone, for a comparison on the same runs.
   */
  hideEarly?: boolean;
  /** Heavy users: this share of new users makes `requests` requests each instead of requestsPerUser. */
  heavy?: { share: number; requests: number };
}

/** P(y slow of k requests) when the user's own slow share is Beta with mean q and ICC ρ. */
function betaBinomialPmf(k: number, q: number, icc: number): number[] {
  if (icc <= 0) {
    return Array.from({ length: k + 1 }, (_, y) =>
      Math.exp(lnGamma(k + 1) - lnGamma(y + 1) - lnGamma(k - y + 1) + y * Math.log(q) + (k - y) * Math.log(1 - q)));
  }
  const a = (q * (1 - icc)) / icc;
  const b = ((1 - q) * (1 - icc)) / icc;
  return Array.from({ length: k + 1 }, (_, y) =>
    Math.exp(lnGamma(k + 1) - lnGamma(y + 1) - lnGamma(k - y + 1) + lnBeta(y + a, k - y + b) - lnBeta(a, b)));
}

/** Bucket layout covering every value the given models can record; binds them to it. */
export function bindLayout(models: readonly ArmModel[]): BucketLayout {
  const layout = new BucketLayout(models.flatMap((m) => [...m.latency.values()]));
  for (const m of models) m.latency.useLayout(layout);
  return layout;
}

/** Precomputed per (truth, threshold, shape); shared by every run of a scenario. */
export class ArmModel {
  readonly latency: LatencyModel;
  readonly slowPmf: number[];
  /** Cumulative P(y slow of a heavy user's requests), for inversion. */
  readonly heavySlowCdf: Float64Array | null;

  /** P(activated by the early landmark | activates within the window). */
  readonly earlyShare: number;

  constructor(
    readonly truth: ArmTruth,
    threshold: number,
    readonly shape: TrafficShape,
  ) {
    const cdf = (t: number) => 1 - Math.exp(-t / (truth.activationMeanTicks ?? shape.activationMeanTicks));
    this.earlyShare = shape.activationEarlyTicks > 0 ? cdf(shape.activationEarlyTicks) / cdf(shape.activationDelayTicks) : 0;
    this.latency = new LatencyModel(truth.latency, threshold);
    this.slowPmf = betaBinomialPmf(shape.requestsPerUser, this.latency.exceedance, shape.slowCorrelation);
    if (shape.heavy) {
      let running = 0;
      this.heavySlowCdf = Float64Array.from(betaBinomialPmf(shape.heavy.requests, this.latency.exceedance, shape.slowCorrelation), (p) => (running += p));
    } else this.heavySlowCdf = null;
  }
}

export class SimulatedCohort {
  private readonly exposuresByTick: Int32Array;
  private readonly earlyByTick: Int32Array;
  private early = { reached: 0, successes: 0 };
  private readonly slowUsers: Int32Array;
  private readonly histogram: BucketedLatencies;
  private readonly record = (ordinal: number, count: number) => this.histogram.add(ordinal, count);
  private exposed = 0;
  private activation = { matured: 0, successes: 0 };
  /** Matured users who had activated by the early landmark. */
  private maturedEarly = 0;
  private retention = { matured: 0, successes: 0 };
  private latency = { count: 0, slow: 0, users: 0, sumN2: 0, sumSlow2: 0, sumNSlow: 0 };

  constructor(
    readonly name: string,
    private model: ArmModel,
    private readonly random: Random,
    layout: BucketLayout,
  ) {
    this.histogram = new BucketedLatencies(layout);
    this.exposuresByTick = new Int32Array(model.shape.ticks + 1);
    this.earlyByTick = new Int32Array(model.shape.ticks + 1);
    this.slowUsers = new Int32Array(model.shape.requestsPerUser + 1);
  }

  /** Switches the truth from now on (a mid-run onset); the shape must stay the same. */
  useModel(model: ArmModel): void {
    this.model = model;
  }

  step(tick: number, newUsers: number): void {
    const { shape, truth } = this.model;
    const r = this.random;
    this.exposuresByTick[tick] = newUsers;
    this.exposed += newUsers;
    const p = truth.activation;
    const g = this.model.earlyShare;
    const reached = tick - shape.activationEarlyTicks;
    if (shape.activationEarlyTicks > 0 && reached >= 1) {
      const m = this.exposuresByTick[reached];
      const k = r.binomial(m, p * g);
      this.earlyByTick[reached] = k;
      this.early.reached += m;
      this.early.successes += k;
    }
    const activated = tick - shape.activationDelayTicks;
    if (activated >= 1) {
      const m = this.exposuresByTick[activated];
      const k = this.earlyByTick[activated];
      this.activation.matured += m;
      this.maturedEarly += k;
      // The rest activate later in the window: P(activates | not by the landmark) = p(1−g)/(1−pg).
      this.activation.successes += k + r.binomial(m - k, g > 0 ? (p * (1 - g)) / (1 - p * g) : p);
    }
    const retained = tick - shape.retentionDelayTicks;
    if (retained >= 1) {
      const m = this.exposuresByTick[retained];
      this.retention.matured += m;
      this.retention.successes += r.binomial(m, truth.retention);
    }
    const k = shape.requestsPerUser;
    const heavyUsers = shape.heavy ? r.binomial(newUsers, shape.heavy.share) : 0;
    const usual = newUsers - heavyUsers;
    r.multinomial(usual, this.model.slowPmf, this.slowUsers);
    let slow = 0;
    let slow2 = 0;
    for (let y = 1; y <= k; y++) {
      slow += y * this.slowUsers[y];
      slow2 += y * y * this.slowUsers[y];
    }
    const l = this.latency;
    l.users += newUsers;
    l.count += k * usual;
    l.slow += slow;
    l.sumN2 += k * k * usual;
    l.sumSlow2 += slow2;
    l.sumNSlow += k * slow;
    let requests = k * usual;
    for (let i = 0; i < heavyUsers; i++) {
      const h = shape.heavy!.requests;
      const y = this.heavySlow(r.uniform());
      slow += y;
      requests += h;
      l.count += h;
      l.slow += y;
      l.sumN2 += h * h;
      l.sumSlow2 += y * y;
      l.sumNSlow += h * y;
    }
    this.model.latency.record(r, requests - slow, slow, this.record);
  }

  private heavySlow(u: number): number {
    const cdf = this.model.heavySlowCdf!;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  snapshot(): MergedCohortStats {
    const empty = this.histogram.count === 0;
    const { valueAt, countAbove } = this.histogram.frozen();
    return {
      cohort: this.name,
      exposed: this.exposed,
      firstExposureAt: 0,
      activation: {
        ...this.activation,
        ...(this.model.shape.activationEarlyTicks > 0 && !this.model.shape.hideEarly
          ? { early: { afterMs: this.model.shape.activationEarlyTicks * 3_600_000, ...this.early, maturedSuccesses: this.maturedEarly } }
          : {}),
      },
      retention: { ...this.retention },
      latency: {
        ...this.latency,
        p95: empty ? null : valueAt(95),
        valueAtPercentile: (p: number) => (empty ? null : valueAt(p)),
        countAbove,
      },
      cohortSwitches: 0,
    };
  }
}
